# Config access and input functions shared by every rule file.
# Paths are built here, by the functions below, never by string surgery inside a rule.
# The Snakefile has put the mira package on sys.path and read every config file strictly already.
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
CONDA_ENV = "../../envs/mira.yaml"


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


# ---- data stage -------------------------------------------------------------------------------


def synthesis_params(wildcards):
    """Shape and case count of one synthetic dataset job (2D 'phantom' or 3D 'phantom3d')."""
    syn = config["synthesis"]
    if wildcards.source == SYNTHETIC_3D:
        vol = syn["volumes"]
        return dict(ndim=3, size=vol["size"], slices=vol["slices"], n_cases=vol["cases"][wildcards.split])
    return dict(ndim=2, size=syn["size"], slices=None, n_cases=syn["cases"][wildcards.split])


def input_names_regex():
    """Regex of the configured real-image source names (never matches when there are none)."""
    return "|".join(config["inputs"]) if config["inputs"] else "(?!)"


def ingest_reports():
    """The ingest report of every real-image source (one row per file considered)."""
    return [f"{RESULTS}/data/{name}/{spec['modality']}/ingest_report.csv" for name, spec in config["inputs"].items()]


def data_targets():
    out = [f"{RESULTS}/tables/datasets.csv", f"{RESULTS}/tables/datasets.md"]
    out += [f"{RESULTS}/tables/ingest.csv", f"{RESULTS}/tables/ingest.md"]
    out += [f"{RESULTS}/figures/overview/{s}_{m}.png" for s, m in datasets()]
    return out


# Each stage file registers a function returning its final targets; the all-rule collects them.
_TARGET_FUNCTIONS = [data_targets]


def register_targets(fn):
    _TARGET_FUNCTIONS.append(fn)
    return fn


def all_targets(wildcards=None):
    targets = []
    for fn in _TARGET_FUNCTIONS:
        targets.extend(fn())
    return targets
