"""Severity grading of degraded images: SNR, CNR, MTF and artifact index, and their bands.

The severity table of the textbook chapter on medical image augmentation and restoration, with the band
edges used here (a value on an edge goes to the milder band):

==================  ========  ==========  ========
measure             mild      moderate    severe
==================  ========  ==========  ========
SNR (dB)            > 30      20 - 30     < 20
MTF (%)             > 80      50 - 80     < 50
artifact index (%)  < 5       5 - 15      > 15
CNR                 > 10      5 - 10      < 5
==================  ========  ==========  ========

How each is measured on a case (all from the label map and the paired clean reference):

* **SNR** -- :func:`mira.metrics.quality.snr_db` in the *signal region*: the largest labelled
  structure among those whose mean signal above the modality's background level (-1000 HU for CT,
  0 otherwise) is at least half that of the brightest structure (so: soft tissue, not lung); mean
  signal above background over the standard deviation of ``degraded - reference`` there (noise
  only, not anatomy).
* **CNR** -- :func:`mira.metrics.quality.cnr` between the lesion and its host organ (the label
  surrounding it); for a case without lesion, between the two largest structures. Noise sigma from
  ``degraded - reference`` in both regions.
* **MTF** -- :func:`mira.metrics.mtf.relative_mtf`: the same degradation, with the same parameters,
  is replayed on a slanted-edge phantom of the case's size and spacing; the MTF at
  ``0.125 cycles/pixel`` (a quarter of Nyquist, :data:`~mira.metrics.mtf.MTF_REFERENCE_CYCLES_PER_PIXEL`).
  For ``blur`` the analytic value ``exp(-2 pi^2 sigma^2 f^2)`` is reported beside it, for X-ray
  motion ``|sinc(L f)|``.
* **Artifact index** -- :func:`mira.metrics.artifact.artifact_index`: RMS of ``degraded -
  reference`` over the whole image, relative to the standard deviation of the clean image over the
  labelled body (label > 0), in percent.

Which measure decides the grade (``measure`` of the registry): noise and body habitus -> SNR;
blur, X-ray motion blur and SR downsampling -> MTF; metal, sparse views, CT/MRI motion,
undersampling, Gibbs, bias field, MRI spikes, scatter, quantisation, clipping -> artifact index.
CNR is measured and banded for every case but does not decide: it depends on the lesion's own
contrast (an anatomical property), so the same noise gives different CNR bands for a faint and a
bright lesion. A case *lands* when the band of its deciding measure equals the intended level.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np
from scipy import ndimage as ndi

from ..metrics.artifact import artifact_index
from ..metrics.mtf import FWHM_PER_SIGMA, MTF_REFERENCE_CYCLES_PER_PIXEL, edge_phantom, gaussian_mtf, relative_mtf
from ..metrics.quality import cnr, snr_db
from ..modalities import ModalityProfile, as_profile
from .registry import SR_NAME, Degraded, apply
from .resolution import modcrop, upsample_to

#: measure -> (mild edge, severe edge, higher is better)
BANDS: dict[str, tuple[float, float, bool]] = {
    "snr_db": (30.0, 20.0, True),
    "mtf_pct": (80.0, 50.0, True),
    "artifact_pct": (5.0, 15.0, False),
    "cnr": (10.0, 5.0, True),
}
BAND_COLUMN = {"snr_db": "snr_band", "cnr": "cnr_band", "mtf_pct": "mtf_band", "artifact_pct": "artifact_band"}
#: registry ``measure`` -> the column that decides the grade
DECIDING = {"snr": "snr_db", "mtf": "mtf_pct", "artifact": "artifact_pct"}
GRADE_COLUMNS = ["snr_db", "snr_band", "cnr", "cnr_band", "cnr_regions", "signal_region", "mtf_pct",
                 "mtf_expected_pct", "mtf_band", "mtf_frequency_cpmm", "artifact_pct", "artifact_band", "measure",
                 "grade", "intended", "landed"]


def band(measure: str, value: float) -> str:
    """Severity band (``"mild"``, ``"moderate"``, ``"severe"``) of ``value`` of ``measure``; ``""`` if undefined."""
    mild, severe, higher = BANDS[measure]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if higher:
        return "mild" if value > mild else ("severe" if value < severe else "moderate")
    return "mild" if value < mild else ("severe" if value > severe else "moderate")


def _lesion_labels(legend: Mapping[int, str]) -> list[int]:
    return [k for k, v in legend.items() if k > 0 and "lesion" in str(v).lower()]


def regions(label: np.ndarray, legend: Mapping[int, str], image: np.ndarray | None = None,
            profile: ModalityProfile | None = None) -> dict:
    """Masks used by the grading: ``signal`` and the CNR pair ``(a, b)`` with their names.

    ``signal``: the largest labelled structure that is not a lesion and, when the clean ``image`` and
    the modality ``profile`` are given, whose mean signal above ``profile.fill_value`` is at least half
    that of the brightest structure (so the SNR is measured in tissue, not in lung or in a dark cyst).
    CNR pair: the lesion (all lesion labels of the legend) and its host (most frequent other label in
    a 2-pixel ring around it); without a lesion, the two largest structures.
    """
    lab = np.asarray(label)
    legend = {int(k): str(v) for k, v in (legend or {}).items()}
    lesions = _lesion_labels(legend)
    values, counts = np.unique(lab[lab > 0], return_counts=True)
    order = [int(v) for v, _ in sorted(zip(values, counts), key=lambda t: -t[1]) if int(v) not in lesions]
    out: dict = {"signal": None, "signal_name": "", "a": None, "b": None, "names": ""}
    candidates = order
    if image is not None and profile is not None and order:
        bg = profile.fill_value
        level = {v: abs(float(np.mean(image[lab == v])) - bg) for v in order}
        top = max(level.values())
        candidates = [v for v in order if level[v] >= 0.5 * top] or order
    if candidates:
        out["signal"] = lab == candidates[0]
        out["signal_name"] = legend.get(candidates[0], str(candidates[0]))
    les = np.isin(lab, lesions) if lesions else np.zeros(lab.shape, dtype=bool)
    if les.sum() >= 2:
        ring = ndi.binary_dilation(les, iterations=2) & ~les & (lab > 0)
        if ring.any():
            host_vals, host_counts = np.unique(lab[ring], return_counts=True)
            host = int(host_vals[np.argmax(host_counts)])
            host_mask = (lab == host) & ~les
            if host_mask.sum() >= 2:
                out.update(a=les, b=host_mask, names=f"lesion/{legend.get(host, host)}")
                return out
    if len(order) >= 2:
        out.update(a=lab == order[0], b=lab == order[1],
                   names=f"{legend.get(order[0], order[0])}/{legend.get(order[1], order[1])}")
    return out


def _profile(result: Degraded) -> ModalityProfile:
    """The profile ``result`` was degraded with (built-in one for a hand-made Degraded without it)."""
    return result.profile if result.profile is not None else as_profile(result.modality)


def _edge_values(profile: ModalityProfile) -> tuple[float, float]:
    lo, hi = profile.metric_window
    return lo + 0.2 * (hi - lo), lo + 0.8 * (hi - lo)


def measure_mtf_pct(result: Degraded, shape, spacing, cycles_per_pixel: float = MTF_REFERENCE_CYCLES_PER_PIXEL):
    """MTF (%) of the degradation in ``result``, replayed with its parameters on a slanted edge.

    Returns ``(measured %, expected % or nan, reference frequency in cycles/mm)``.
    """
    shape2, sp2 = tuple(shape)[-2:], tuple(spacing)[-2:]
    normal = float(result.params.get("direction_deg") or 0.0) + 5.0
    lo, hi = _edge_values(_profile(result))
    params = dict(result.params)
    scale = int(params["scale"]) if result.name == SR_NAME else 1
    if scale > 1:
        shape2 = tuple(n - n % scale for n in shape2)
    edge, geom = edge_phantom(shape2, sp2, low=lo, high=hi, normal_deg=normal)
    rep = apply(result.name, edge, params, profile=_profile(result), spacing=sp2)
    degraded = upsample_to(rep.image, rep.reference.shape) if scale > 1 else rep.image
    px = float(np.hypot(sp2[1] * np.cos(np.deg2rad(normal)), sp2[0] * np.sin(np.deg2rad(normal))))
    freq = cycles_per_pixel / px
    half = max(4.0, min(16.0, (min(shape2) / 2.0 - 8.0) * 0.9))
    measured = 100.0 * relative_mtf(rep.reference, degraded, geom, sp2, freq, half_width_px=half,
                                    border_px=min(8, max(2, min(shape2) // 8)))
    expected = float("nan")
    if result.name == "blur":
        fwhm = np.broadcast_to(np.asarray(params["fwhm_mm"], dtype=float), (len(spacing),))[-1]
        expected = 100.0 * float(gaussian_mtf(freq, fwhm / FWHM_PER_SIGMA))
    elif result.name == "motion" and "length_mm" in params:
        expected = 100.0 * abs(float(np.sinc(float(params["length_mm"]) * freq)))
    return measured, expected, freq


def grade_case(result: Degraded, original: np.ndarray, label: np.ndarray | None = None,
               legend: Mapping[int, str] | None = None, intended: str | None = None) -> dict:
    """Measure one degraded case and grade it (module docstring).

    Parameters
    ----------
    result : Degraded
        Output of :func:`mira.degrade.apply`.
    original : array
        The clean image the degradation started from (before cropping for SR).
    label : array, optional
        Label map of ``original``; without it SNR and CNR are NaN.
    legend : mapping, optional
        Label value -> name (lesions are the names containing "lesion").
    intended : str, optional
        The intended level; defaults to ``result.level`` when it is mild/moderate/severe.

    Returns
    -------
    dict
        Keys :data:`GRADE_COLUMNS`. ``landed`` is True/False, or None when nothing was intended
        (SR inputs, explicit parameters).
    """
    model = result.model
    deciding = DECIDING[model.measure] if model is not None else "artifact_pct"
    ref = result.reference
    if result.image.shape != ref.shape:  # SR input: judge it on the reference grid after cubic upsampling
        deg = upsample_to(result.image, ref.shape)
        orig = ref
        lab = modcrop(label, int(result.params["scale"])) if label is not None else None
    else:
        deg, orig, lab = result.image, np.asarray(original, dtype=np.float64), label
    row: dict = {c: float("nan") for c in ("snr_db", "cnr", "mtf_pct", "mtf_expected_pct", "mtf_frequency_cpmm")}
    row["cnr_regions"] = row["signal_region"] = ""
    if lab is not None:
        reg = regions(lab, legend or {}, orig, _profile(result))
        if reg["signal"] is not None and reg["signal"].sum() >= 2:
            row["snr_db"] = snr_db(deg, reg["signal"], _profile(result), reference=ref)
            row["signal_region"] = reg["signal_name"]
        if reg["a"] is not None:
            row["cnr"] = cnr(deg, reg["a"], reg["b"], reference=ref)
            row["cnr_regions"] = reg["names"]
    body = (lab > 0) if lab is not None and int(np.count_nonzero(lab)) >= 2 else None
    row["artifact_pct"] = artifact_index(deg, ref, orig, contrast_mask=body)
    if model is not None and model.measure == "mtf":
        row["mtf_pct"], row["mtf_expected_pct"], row["mtf_frequency_cpmm"] = measure_mtf_pct(
            result, np.shape(original), result.reference_spacing)
    for m, col in BAND_COLUMN.items():
        row[col] = band(m, row[m])
    row["measure"] = deciding
    row["grade"] = row[BAND_COLUMN[deciding]]
    if intended is None:
        intended = result.level if result.level in ("mild", "moderate", "severe") else ""
    row["intended"] = intended
    row["landed"] = (row["grade"] == intended) if intended and row["grade"] else None
    return {c: row[c] for c in GRADE_COLUMNS}
