"""Rule augment_gan: DCGAN trained on one modality's 2D training phantoms within a CPU budget."""
from mira.augment.pipeline import run_gan
from mira.cli import run_script


def main(smk, log):
    g = smk.params.gan
    info = run_gan(smk.input.train, [smk.input.val, smk.input.test], modality=smk.wildcards.modality,
                   seed=smk.params.seed, out_model=smk.output.model, out_sidecar=smk.output.sidecar,
                   out_samples=smk.output.samples, out_figure=smk.output.figure, profile_overrides=smk.params.profile,
                   image_size=g["image_size"], time_budget_s=g["time_budget_s"], max_iterations=g["max_iterations"],
                   batch_size=g["batch_size"], latent_dim=g["latent_dim"], width=g["width"], lr=g["lr"],
                   augment_copies=g["augment_copies"], n_samples=g["n_samples"], instance_noise=g["instance_noise"])
    log.info("GAN: %s", info)


run_script(snakemake, main)  # noqa: F821
