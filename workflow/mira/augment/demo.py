"""Panels of the demonstration figure (basic / intensity / advanced) and the summary of variants drawn.

The figure (drawn by :mod:`mira.study.report.augmentation`) follows the CT demo of the textbook
chapter on medical image augmentation and restoration: one phantom case, one row per family (basic
geometric, intensity, advanced: elastic -- at the profile limit and the chapter's alpha=800/sigma=6
setting --, occlusion, the modality's own transform, the standard pipeline). Geometric and intensity panels
show the operation at the profile's limit (magnitude 10 of the policy operations), so the
strongest change a training run can see is what the reader sees; label contours are drawn on every
spatial panel to show that the label map moved with the image.

The summary (:func:`summary_rows`) lists, per transform, how many variants were drawn, the range of every drawn
parameter, and the range of output values against the modality's value range.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import ParameterError
from ..modalities import ModalityProfile
from .catalogue import Entry, catalogue_for
from .compose import apply_records
from .policy import operation_record
from .sample import Sample
from .spatial import RandomScaling

_DEMO_OPS = {"rotation": "rotate", "translation": "translate_x", "shear": "shear_x", "contrast": "contrast",
             "brightness": "brightness", "gamma": "gamma", "noise": "noise", "blur": "blur"}


def _has(key: str) -> Callable[[dict], bool]:
    return lambda p: key in p


#: ``(test, title)`` pairs over a transform's drawn parameters; the first test that holds names the panel.
_TITLES: tuple[tuple[Callable[[dict], bool], Callable[[dict], str]], ...] = (
    (_has("rotation_deg"), lambda p: f"rotation {p['rotation_deg']:+.1f} deg"),
    (_has("translation_mm"), lambda p: "translation " + ", ".join(f"{v:+.1f}" for v in p["translation_mm"]) + " mm"),
    (_has("scale"), lambda p: f"scaling x{p['scale'][0]:.3f}"),
    (_has("shear_deg"), lambda p: f"shear {max(p['shear_deg'], key=abs):+.1f} deg"),
    (_has("axes"), lambda p: "flip left-right" + (" (labels swapped)" if p.get("label_swaps") else "")),
    (_has("factor"), lambda p: f"contrast x{p['factor']:.2f}"),
    (_has("offset"), lambda p: f"brightness {p['offset']:+.3g}"),
    (_has("gamma"), lambda p: f"gamma {p['gamma']:.2f}"),
    (_has("sigma_mm"), lambda p: f"blur sigma {p['sigma_mm']:.2f} mm"),
    (lambda p: "sigma" in p and "kind" in p, lambda p: f"{p['kind']} noise sigma {p['sigma']:.3g}"),
    (lambda p: p.get("mode") == "simard", lambda p: f"elastic textbook a={p['alpha']:g}, s={p['sigma']:g} px"),
    (lambda p: p.get("mode") == "bspline",
     lambda p: f"elastic <= {p['max_displacement_mm']:g} mm ({p['control_spacing_mm'][0]:g} mm grid)"),
    (_has("boxes"), lambda p: f"occlusion x{len(p['boxes'])} (fill {p['fill']:g})"),
    (_has("log_amplitude"), lambda p: f"bias field x{math.exp(abs(p['log_amplitude'])):.2f}"),
    (_has("strength"), lambda p: f"speckle {p['strength']:.2f}"),
    (_has("change_deg"), lambda p: f"sector angle {p['change_deg']:+.1f} deg"),
    (_has("magnification_ratio"),
     lambda p: f"magnification x{p['magnification_ratio']:.3f}, tilt {p['tilt_deg']:+.1f} deg"),
    (lambda p: "weights" in p and "channels" in p,
     lambda p: "fusion " + ", ".join(f"{w:.2f} {n}" for n, w in zip(p["channels"].split(","), p["weights"]))),
)


def _title(name: str, params: list[dict]) -> str:
    """Short panel title with the main drawn parameter (``name`` when none is recognised)."""
    if not params:
        return name
    p = params[0]["params"]
    return next((title(p) for test, title in _TITLES if test(p)), name)


def demo_panels(sample: Sample, profile: ModalityProfile,
                rng: np.random.Generator) -> list[tuple[str, str, Sample, bool]]:
    """``(row, title, augmented sample, spatial?)`` for every panel of the demonstration figure."""
    panels: list[tuple[str, str, Sample, bool]] = [("basic", "original", sample, True)]
    for ent in catalogue_for(profile, [sample]):
        if ent.name in _DEMO_OPS and not (ent.name == "shear" and profile.shear_max_deg == 0):
            sign = 1 if ent.name != "contrast" or profile.contrast_range[1] > 1.0 else -1
            cls, params = operation_record(_DEMO_OPS[ent.name], 10, sign, sample, profile)
            if "seed" not in params and cls.__name__ == "RandomNoise":
                params["seed"] = int(rng.integers(0, 2 ** 62))
            out = apply_records(sample, [(cls, params)])
        elif ent.name == "scaling":
            out = RandomScaling(scales=(profile.scale_range[1],) * 2, modality=profile)(sample, rng)
        elif ent.name == "occlusion" and sample.ndim == 3:
            for _ in range(20):  # show a draw whose boxes cross the displayed middle slice
                out = ent.transform(sample, rng)
                boxes = out.history[-1]["params"]["boxes"] if len(out.history) > len(sample.history) else []
                if any(b[0][0] <= sample.shape[0] // 2 < b[0][1] for b in boxes):
                    break
        else:
            out = ent.transform(sample, rng)
        recs = out.history[len(sample.history):]
        title = "standard pipeline" if ent.name == "standard_pipeline" else _title(ent.name, recs)
        spatial = any(r["transform"] in _SPATIAL for r in recs)
        panels.append((ent.row, title, out, spatial))
    return panels


_SPATIAL = {"RandomAffine", "RandomRotation", "RandomTranslation", "RandomScaling", "RandomShear", "RandomFlip",
            "ElasticDeformation", "TextbookElastic", "RandomSectorAngle", "ProjectionGeometry"}


# ------------------------------------------------------------------------------------------------
# summary table


def _scalar_params(params: dict[str, Any]) -> dict[str, float]:
    """Numeric parameters worth summarising (vectors reduced to their largest magnitude)."""
    out: dict[str, float] = {}
    skip = {"order", "fill", "seed", "value_range", "window", "displacements_mm", "coefficients", "boxes", "sector",
            "keep_field_of_view", "label_swaps", "rotation_axis", "control_spacing_mm", "sets_field_of_view"}
    for k, v in params.items():
        if k in skip or isinstance(v, (str, bool)) or v is None:
            continue
        if isinstance(v, (list, tuple)):
            flat = np.asarray(v, dtype=float).ravel()
            if flat.size == 0:
                continue
            if k == "scale":
                out[k] = float(flat[0])
            elif k == "axes":
                out["flipped_axes"] = float(flat.size)
            else:
                out[k] = float(flat[np.argmax(np.abs(flat))])
        else:
            out[k] = float(v)
    return out


def summary_rows(samples: Sequence[Sample], profile: ModalityProfile, rng: np.random.Generator,
                 variants: int = 4, entries: Sequence[Entry] | None = None) -> list[dict[str, Any]]:
    """Draw ``variants`` per case and transform; one row per transform with counts and ranges."""
    if not samples:
        raise ParameterError("the summary needs at least one sample")
    ents = list(entries) if entries is not None else catalogue_for(profile, samples)
    rows = []
    lo, hi = profile.value_range
    for ent in ents:
        n, applied = 0, 0
        pranges: dict[str, list[float]] = {}
        vmin, vmax = math.inf, -math.inf
        for s in samples:
            for _ in range(int(variants)):
                out = ent.transform(s, rng)
                n += 1
                recs = out.history[len(s.history):]
                applied += bool(recs)
                for r in recs:
                    for k, v in _scalar_params(r["params"]).items():
                        key = k if ent.name != "standard_pipeline" else f"{r['transform']}.{k}"
                        pranges.setdefault(key, []).append(v)
                for arr in out.channels().values():
                    vmin, vmax = min(vmin, float(arr.min())), max(vmax, float(arr.max()))
        rows.append({
            "transform": ent.name, "family": ent.family, "within_profile": ent.within_profile, "variants": n,
            "applied": applied,
            "parameters": "; ".join(f"{k} {min(v):.3g}..{max(v):.3g}" for k, v in sorted(pranges.items())),
            "value_min": vmin, "value_max": vmax,
            "value_range_kept": bool(vmin >= lo - 1e-3 and vmax <= hi + 1e-3),
        })
    return rows


__all__ = ["demo_panels", "summary_rows"]
