"""Rule evaluate_findings: the study's answers in plain words, from the tables."""
from mira.cli import run_script
from mira.evaluate.findings import write_findings


def main(smk, log):
    i = smk.input
    text = write_findings(i.get("restoration"), i.get("task"), i.get("change"), i.get("claims"), smk.output[0])
    log.info("findings:\n%s", text)


run_script(snakemake, main)  # noqa: F821
