# mira: Medical Image Restoration and Augmentation.
# Run: snakemake --cores 2            (full study on the embedded synthetic data)
#      snakemake --cores 2 figures    (regenerate figures from existing results)
import os
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")

# Every job imports the mira package from this checkout's workflow/ folder, whatever environment
# runs it (local venv, --sdm conda, a cluster node): put it on sys.path and PYTHONPATH.
_PKG_ROOT = str(Path(workflow.basedir) / "workflow")
sys.path.insert(0, _PKG_ROOT)
os.environ.update(
    PYTHONPATH=os.pathsep.join([_PKG_ROOT, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])
)

from mira.config import check_config_files
from mira.errors import ConfigError

# Snakemake's own loader keeps the last of two equal keys and names no line for a YAML error: read
# config.yaml and every --configfile strictly first (one that is no YAML at all stops Snakemake earlier).
CONFIG_FILE = "config.yaml"
try:
    check_config_files([CONFIG_FILE, *workflow.overwrite_configfiles])
except ConfigError as _exc:
    sys.exit(f"mira: config error: {_exc}")


configfile: CONFIG_FILE


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    **PLAN.data.wildcard_constraints,


include: "workflow/rules/data.smk"
include: "workflow/rules/augment.smk"
include: "workflow/rules/degrade.smk"
include: "workflow/rules/restore.smk"
include: "workflow/rules/evaluate.smk"


rule all:
    default_target: True
    input:
        PLAN.targets(),
