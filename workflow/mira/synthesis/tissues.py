"""Label legends, default tissue values and texture strengths of the phantoms, and override checks.

The single place where the phantoms' tissue numbers live:

* ``LEGENDS[modality]``: label value -> name (0 is always ``"background"``; the lesion label is the
  highest value);
* ``DEFAULT_TISSUES[modality]``: the mean value of every tissue in native units: HU for ``ct`` and
  for ``xray`` (the radiograph is computed from a CT phantom, so its tissues are CT tissues, keyed by
  CT legend names), magnitude (a.u., tissue roughly 0..1) per contrast for ``mri``
  (``DEFAULT_TISSUES["mri"]["T2"]["csf"]``), relative echogenicity (scatterer amplitude, parenchyma
  = 1) for ``us``;
* texture strengths: standard deviation of the zero-mean correlated texture per tissue (HU for CT,
  a fraction of the tissue value for MRI).

Lesion values are drawn per lesion relative to the host tissue (recorded in ``SyntheticCase.meta``);
a ``"lesion"`` key in ``tissues`` fixes every lesion to that absolute value instead.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Mapping

from ..errors import ConfigError

MRI_SEQUENCES: tuple[str, ...] = ("T1", "T2", "FLAIR")

LEGENDS: dict[str, dict[int, str]] = {
    "ct": {0: "background", 1: "fat", 2: "muscle", 3: "soft_tissue", 4: "lung", 5: "vessel", 6: "heart",
           7: "liver", 8: "spleen", 9: "kidney", 10: "cancellous_bone", 11: "bone", 12: "lesion"},
    "mri": {0: "background", 1: "scalp", 2: "skull", 3: "csf", 4: "grey_matter", 5: "white_matter", 6: "lesion"},
    "xray": {0: "background", 1: "soft_tissue", 2: "lung", 3: "heart", 4: "bone", 5: "lesion"},
    "us": {0: "background", 1: "fat", 2: "muscle", 3: "parenchyma", 4: "cyst", 5: "lesion"},
}

#: label value of each legend name, per modality (e.g. ``LABELS["ct"]["liver"] == 7``)
LABELS: dict[str, dict[str, int]] = {m: {name: k for k, name in leg.items()} for m, leg in LEGENDS.items()}

_CT_HU: dict[str, float] = {
    "background": -1000.0, "fat": -100.0, "muscle": 45.0, "soft_tissue": 25.0, "lung": -850.0, "vessel": 40.0,
    "heart": 40.0, "liver": 60.0, "spleen": 50.0, "kidney": 30.0, "cancellous_bone": 250.0, "bone": 900.0,
}

DEFAULT_TISSUES: dict[str, Any] = {
    "ct": dict(_CT_HU),
    "mri": {
        # spin-echo-like relative magnitudes: fat bright in T1, CSF dark in T1 / bright in T2 /
        # suppressed in FLAIR, WM brighter than GM in T1 and darker in T2/FLAIR, cortical bone dark.
        "T1": {"background": 0.0, "scalp": 0.90, "skull": 0.06, "csf": 0.12, "grey_matter": 0.52,
               "white_matter": 0.78},
        "T2": {"background": 0.0, "scalp": 0.55, "skull": 0.05, "csf": 1.00, "grey_matter": 0.62,
               "white_matter": 0.45},
        "FLAIR": {"background": 0.0, "scalp": 0.65, "skull": 0.05, "csf": 0.08, "grey_matter": 0.62,
                  "white_matter": 0.45},
    },
    "xray": dict(_CT_HU),
    "us": {"fat": 0.45, "muscle": 0.70, "parenchyma": 1.00, "cyst": 0.0},
}

#: standard deviation of the zero-mean tissue texture, HU (CT), on a 1 mm grid (power-law texture,
#: :func:`mira.synthesis.texture.powerlaw_texture`; a little lower on coarser grids). Calibrated with
#: ``benchmarks/phantom_realism.py`` against real CT so that 5 x 5-pixel windows of soft tissue are not
#: flat (about 2x the former piecewise-smooth values)
CT_TEXTURE_HU: dict[str, float] = {
    "background": 0.0, "fat": 18.0, "muscle": 14.0, "soft_tissue": 16.0, "lung": 40.0, "vessel": 10.0,
    "heart": 10.0, "liver": 12.0, "spleen": 12.0, "kidney": 14.0, "cancellous_bone": 80.0, "bone": 100.0,
}
#: standard deviation of the multiplicative MRI texture, fraction of the tissue value (1 mm grid)
MRI_TEXTURE_REL: dict[str, float] = {
    "background": 0.0, "scalp": 0.12, "skull": 0.20, "csf": 0.06, "grey_matter": 0.07, "white_matter": 0.06,
}
#: texture SD of lesions: HU (CT) and fraction of the lesion value (MRI)
LESION_TEXTURE = {"ct": 12.0, "mri": 0.08}


def _number(value: Any, where: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}={value!r}: tissue value must be a number") from None
    if not math.isfinite(out):
        raise ConfigError(f"{where}={value!r}: tissue value must be finite")
    return out


def _merge_flat(defaults: Mapping[str, float], overrides: Mapping[str, Any], allowed: set[str], where: str,
                non_negative: bool) -> tuple[dict[str, float], float | None]:
    """Merge ``overrides`` into a copy of ``defaults``; returns ``(values, fixed_lesion_value)``."""
    values = dict(defaults)
    lesion: float | None = None
    for key, raw in overrides.items():
        if key not in allowed:
            raise ConfigError(f"{where}.{key}: unknown tissue (known: {', '.join(sorted(allowed))})")
        val = _number(raw, f"{where}.{key}")
        if non_negative and val < 0:
            raise ConfigError(f"{where}.{key}={val}: must be >= 0")
        if key == "lesion":
            lesion = val
        else:
            values[key] = val
    return values, lesion


def resolve_tissues(modality: str, tissues: Mapping[str, Any] | None, primary: str = "T1"
                    ) -> tuple[dict[str, Any], Any]:
    """Return ``(values, fixed_lesion)``: default tissue values with ``tissues`` overrides applied.

    Parameters
    ----------
    modality : str
        ``"ct"``, ``"mri"``, ``"xray"`` or ``"us"``.
    tissues : mapping or None
        Overrides keyed by legend names (``{"liver": 80.0}``, HU for CT/X-ray). For MRI either keyed by
        contrast then tissue (``{"T2": {"csf": 0.9}}``) or flat tissue names, which apply to the
        ``primary`` contrast. ``"lesion"`` fixes every lesion to an absolute value.
    primary : str
        Primary MRI contrast (used for flat MRI overrides).

    Returns
    -------
    values : dict
        ``{tissue: value}`` (MRI: ``{contrast: {tissue: value}}``).
    fixed_lesion : float, dict or None
        Absolute lesion value(s) when configured (MRI: ``{contrast: value}``), else ``None``.

    Raises
    ------
    ConfigError
        Unknown tissue or contrast name (named in the message), non-numeric or non-finite value,
        negative MRI magnitude or echogenicity.
    """
    tissues = dict(tissues or {})
    where = f"synthesis.tissues.{modality}"
    if modality == "mri":
        allowed = set(DEFAULT_TISSUES["mri"]["T1"]) | {"lesion"}
        nested = {k: v for k, v in tissues.items() if k in MRI_SEQUENCES}
        flat = {k: v for k, v in tissues.items() if k not in MRI_SEQUENCES}
        values: dict[str, Any] = copy.deepcopy(DEFAULT_TISSUES["mri"])
        lesion: dict[str, float] = {}
        per_contrast: dict[str, dict[str, Any]] = {c: {} for c in MRI_SEQUENCES}
        for c, sub in nested.items():
            if not isinstance(sub, Mapping):
                raise ConfigError(f"{where}.{c}: expected a mapping tissue -> value, got {sub!r}")
            per_contrast[c].update(sub)
        per_contrast[primary].update(flat)
        for c in MRI_SEQUENCES:
            values[c], les = _merge_flat(values[c], per_contrast[c], allowed, f"{where}.{c}" if c in nested
                                         else where, non_negative=True)
            if les is not None:
                lesion[c] = les
        return values, (lesion or None)
    legend_mod = "ct" if modality == "xray" else modality
    allowed = set(LEGENDS[legend_mod].values())
    if modality == "us":
        allowed -= {"background"}
    return _merge_flat(DEFAULT_TISSUES[modality], tissues, allowed, where, non_negative=(modality == "us"))
