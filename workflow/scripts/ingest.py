"""Rule ingest: read one configured real-image source into train/val/test dataset folders."""
from mira.cli import run_script
from mira.errors import ConfigError
from mira.ingest import ingest_source


def main(smk, log):
    spec = dict(smk.params.spec)
    if spec["modality"] != smk.wildcards.modality:
        raise ConfigError(f"config key inputs.{smk.wildcards.source}.modality is {spec['modality']!r}, "
                          f"but {smk.wildcards.modality!r} was requested")
    counts = ingest_source(smk.wildcards.source, spec,
                           {"train": smk.output.train, "val": smk.output.val, "test": smk.output.test},
                           seed=smk.params.seed, mem_mb=smk.resources.mem_mb, report_path=smk.output.report)
    log.info("ingested %s: %s", smk.wildcards.source, counts)


run_script(snakemake, main)  # noqa: F821
