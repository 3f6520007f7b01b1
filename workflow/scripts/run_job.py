"""Every rule's script: run the job registered for the rule in mira.study.jobs."""
from mira.study.jobs import run

run(snakemake)  # noqa: F821
