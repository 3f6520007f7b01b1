"""Config validation: defaults filled, every kind of mistake named by its key."""
from __future__ import annotations

import pytest
import yaml

from mira.config import load_config, validate_config
from mira.errors import ConfigError


def test_default_config_validates_and_fills_defaults(repo):
    cfg = load_config(repo / "config.yaml")
    assert cfg["seed"] == 42
    assert cfg["synthesis"]["volumes"]["modalities"] == ["ct", "mri"]
    # a section missing from the file is filled from the schema
    cfg2 = validate_config({"seed": 1})
    assert cfg2["synthesis"]["size"] == 128
    assert cfg2["synthesis"]["cases"] == {"train": 32, "val": 8, "test": 8}
    assert cfg2["modalities"] == ["ct", "mri", "xray", "us"]


def test_tiny_config_validates(tiny_config):
    cfg = load_config(tiny_config)
    assert cfg["synthesis"]["size"] == 48


@pytest.mark.parametrize(
    "bad, key",
    [
        ({"sed": 1}, "sed"),
        ({"synthesis": {"cases": {"trian": 1, "train": 1, "val": 1, "test": 1}}}, "synthesis.cases.trian"),
        ({"synthesis": {"size": "big"}}, "synthesis.size"),
        ({"synthesis": {"size": 8}}, "synthesis.size"),
        ({"modalities": ["ct", "pet"]}, "modalities[1]"),
        ({"inputs": {"mine": {"modality": "pet", "path": "x"}}}, "inputs.mine.modality"),
        ({"inputs": {"mine": {"modality": "ct", "path": "x", "inclde": []}}}, "inputs.mine.inclde"),
        ({"inputs": {"mine": {"modality": "ct"}}}, "inputs.mine"),
        ({"profiles": {"ct": {"rotation_deg": 20}}}, "profiles.ct.rotation_deg"),
        ({"profiles": {"ct": {"rotaton_deg": 2}}}, "profiles.ct.rotaton_deg"),
        ({"inputs": {"phantom": {"modality": "ct", "path": "x"}}}, "inputs.phantom"),
        ({"seed": -3}, "seed"),
    ],
)
def test_config_mistakes_name_the_key(bad, key):
    with pytest.raises(ConfigError) as err:
        validate_config(bad)
    assert key in str(err.value)


def test_typo_suggests_the_right_key():
    with pytest.raises(ConfigError, match="did you mean 'train'"):
        validate_config({"synthesis": {"cases": {"trian": 1, "train": 1, "val": 1, "test": 1}}})


def test_unreadable_config_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1,\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_config(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ConfigError, match="mapping"):
        load_config(lst)
