"""Rule train_restorer: train one network (DnCNN per modality, SRCNN/EDSR per scale) within its budget."""
from mira.cli import run_script
from mira.restore.training import train_restorer


def main(smk, log):
    p = smk.params.train
    settings = {**p["settings"], "threads": smk.threads}
    meta = train_restorer(smk.wildcards.model, list(smk.input.train), list(smk.input.val), smk.output.model,
                          seed=smk.params.seed, scale=p["scale"], arch_params=p["arch"], settings=settings,
                          train_noise=smk.params.train_noise, history_csv=smk.output.history, logger=log)
    log.info("best val PSNR %.2f dB after %d epochs (%s)", meta["best_val_psnr_db"], meta["epochs"], meta["stopped_by"])


run_script(snakemake, main)  # noqa: F821
