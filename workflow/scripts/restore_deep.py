"""Rule restore_deep: apply one trained network (DnCNN, SRCNN, EDSR) to one paired folder."""
from mira.cli import run_script
from mira.restore.evaluate import restore_folder


def main(smk, log):
    table = restore_folder(smk.input.pairs, smk.output[0], smk.wildcards.method, model=smk.input.model)
    means = table.groupby("metric")["value"].mean()
    log.info("%s: PSNR %.2f dB, SSIM %.4f, %.3f s CPU per image", smk.wildcards.method, means["psnr"], means["ssim"],
             means["cpu_s"])


run_script(snakemake, main)  # noqa: F821
