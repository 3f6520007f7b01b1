"""Jobs of the augmentation stage: demonstration and summary, constraint checks, policy search, GAN, tables.

Numeric and plotting modules are imported inside each job: the dispatcher imports every stage's job
module to find one rule's function, and a job should pay only for what it runs.
"""
from __future__ import annotations

from . import Job, job


@job("augment_demo")
def augment_demo(j: Job) -> None:
    """Demonstration figure and summary table of one (source, modality)."""
    from ..augment_stage import run_demo

    s, wc, out = j.settings, j.wildcards, j.output
    info = run_demo(j.input[0], out.figure, out.csv, out.md, source=wc.source, profile=s.profile(wc.modality),
                    seed=s.seed, demo=s.augment.demo)
    j.log.info("demo: %s", info)


@job("augment_summary_table")
def augment_summary_table(j: Job) -> None:
    """The augmentation summaries of every (source, modality) in one table."""
    from ..report.augmentation import write_summary_table

    j.log.info("%d rows", write_summary_table(list(j.input), j.output.csv, j.output.md))


@job("augment_constraints")
def augment_constraints(j: Job) -> None:
    """Constraint checks of every transform on one (source, modality)."""
    from ..augment_stage import run_constraints

    s, wc, out = j.settings, j.wildcards, j.output
    info = run_constraints(j.input[0], out.csv, out.draws, out.md, source=wc.source, profile=s.profile(wc.modality),
                           seed=s.seed, constraints=s.augment.constraints)
    j.log.info("constraints: %s", info)


@job("augment_constraints_table")
def augment_constraints_table(j: Job) -> None:
    """The constraint checks of every (source, modality) in one table."""
    from ..report.augmentation import write_constraints_table

    n = write_constraints_table(list(j.input), j.output.csv, j.output.md, j.settings.augment.constraints.tolerances)
    j.log.info("%d rows", n)


@job("augment_policy")
def augment_policy(j: Job) -> None:
    """AutoAugment-style policy search on the 2D phantoms of one modality."""
    from ..augment_stage import policy_scorer, run_policy_search

    s, policy = j.settings, j.settings.augment.policy
    info = run_policy_search(j.input.train, j.input.val, j.output.json, j.output.csv,
                             profile=s.profile(j.wildcards.modality), seed=s.seed, policy=policy,
                             scorer=policy_scorer(policy))
    j.log.info("policy search: %s", info)


@job("augment_policy_table")
def augment_policy_table(j: Job) -> None:
    """The ranked policy candidates of every modality in one table."""
    from ..report.augmentation import write_policy_table

    j.log.info("%d rows", write_policy_table(list(j.input), j.output.csv, j.output.md))


@job("augment_gan")
def augment_gan(j: Job) -> None:
    """DCGAN trained on one modality's 2D training phantoms within a CPU budget."""
    from ..augment_stage import run_gan

    s, out = j.settings, j.output
    info = run_gan(j.input.train, [j.input.val, j.input.test], out_model=out.model, out_sidecar=out.sidecar,
                   out_samples=out.samples, out_figure=out.figure, profile=s.profile(j.wildcards.modality),
                   seed=s.seed, gan=s.augment.gan)
    j.log.info("GAN: %s", info)


@job("augment_gan_table")
def augment_gan_table(j: Job) -> None:
    """Training and fidelity/diversity statistics of every GAN in one table, with the strategy study's
    "gan vs none" effect when its summary is an input (named ``strategies``)."""
    from ..report.augmentation import write_gan_table

    strategies = getattr(j.input, "strategies", None)
    sidecars = [p for p in j.input if p != strategies]
    j.log.info("%d rows", write_gan_table(sidecars, j.output.csv, j.output.md, strategies=strategies))
