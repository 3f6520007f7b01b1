"""Rules restore_classical / restore_interpolation: every classical method on one paired folder."""
from mira.cli import run_script
from mira.restore.evaluate import restore_folder


def main(smk, log):
    for method, out in zip(smk.params.methods, smk.output):
        table = restore_folder(smk.input[0], out, method, noise_model=smk.params.noise_model,
                               params=smk.params.method_params.get(method), sigma_mode=smk.params.sigma_mode)
        means = table.groupby("metric")["value"].mean()
        log.info("%s: PSNR %.2f dB, SSIM %.4f, %.3f s CPU per image", method, means["psnr"], means["ssim"], means["cpu_s"])


run_script(snakemake, main)  # noqa: F821
