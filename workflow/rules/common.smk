# Config access, wildcard constraints and input functions shared by every rule file.
# No rule builds paths by string surgery inline: the functions below do.
import sys

from mira.config import validate_config
from mira.errors import ConfigError
from mira.modalities import MODALITIES

try:
    _validated = validate_config(config)
except ConfigError as _exc:
    sys.exit(f"mira: config error: {_exc}")
config.clear()
config.update(_validated)

SPLITS = ("train", "val", "test")
RESULTS = "results"
SYNTHETIC_2D = "phantom"
SYNTHETIC_3D = "phantom3d"


wildcard_constraints:
    source="[A-Za-z0-9][A-Za-z0-9_-]*",
    modality="|".join(MODALITIES),
    split="|".join(SPLITS),


def dataset_dir(source, modality, split):
    """Folder of one dataset (manifest.csv, legend.json, images/, labels/)."""
    return f"{RESULTS}/data/{source}/{modality}/{split}"


def dataset_dirs(source, modality):
    """The three split folders of one (source, modality)."""
    return [dataset_dir(source, modality, s) for s in SPLITS]


def datasets():
    """Every (source, modality) pair the config asks for: synthetic 2D, synthetic 3D, real inputs."""
    pairs = [(SYNTHETIC_2D, m) for m in config["modalities"]]
    pairs += [(SYNTHETIC_3D, m) for m in config["synthesis"]["volumes"]["modalities"] if m in config["modalities"]]
    pairs += [(name, spec["modality"]) for name, spec in config["inputs"].items()]
    return pairs


def log_path(rule_name, *parts):
    return f"{RESULTS}/logs/{rule_name}/{'_'.join(parts) if parts else rule_name}.log"


def bench_path(rule_name, *parts):
    return f"{RESULTS}/benchmarks/{rule_name}/{'_'.join(parts) if parts else rule_name}.tsv"


# Each rule file registers a function returning its final targets; `rule all` collects them.
_TARGET_FUNCTIONS = []


def register_targets(fn):
    _TARGET_FUNCTIONS.append(fn)
    return fn


def all_targets(wildcards=None):
    targets = []
    for fn in _TARGET_FUNCTIONS:
        targets.extend(fn())
    return targets
