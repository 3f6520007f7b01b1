"""Ultrasound B-mode phantom: a sector (fan) scan of layered tissue with cysts and focal lesions.

Scene (depth ``y`` from the apex at the top centre, lateral ``x``, mm): a subcutaneous fat layer and a
muscle layer with gently undulating boundaries over organ parenchyma (bright specular fascia and
capsule lines at the boundaries, inside the muscle and parenchyma labels); 1-2 anechoic cysts
(echogenicity 0, low attenuation, so posterior acoustic enhancement appears below them) and, when
asked, 1-3 solid lesions, hypoechoic (0.25-0.55 x parenchyma) or hyperechoic (1.7-2.8 x). The echo
signal is simulated in the (depth, angle) domain by :mod:`mira.synthesis.us_physics` at 3.5 MHz and
scan converted; outside the sector the image and the label map are 0.

Mean B-mode values are not the configured echogenicities (speckle, log compression), but their
ordering is: brighter echogenicity -> brighter mean B-mode.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
from scipy import ndimage as ndi

from .case import SyntheticCase, jsonable
from .tissues import LABELS, LEGENDS, resolve_tissues
from .us_physics import (
    SOUND_SPEED_MM_US,
    attenuation_gain,
    envelope,
    log_compress,
    rf_lines,
    rms_envelope,
    scan_convert,
)

FOV_MM = 120.0          #: image height = width (mm); spacing = FOV / size
F0_MHZ = 3.5            #: transmit centre frequency (abdominal curved/phased probe)
ATTENUATION_DB_CM_MHZ = {"fat": 0.6, "muscle": 0.7, "parenchyma": 0.5, "cyst": 0.0, "lesion": 0.5}
TGC_DB_CM_MHZ = 0.5     #: attenuation assumed by the time-gain compensation
NOISE_DB = -48.0        #: electronic noise relative to the RMS echo of parenchyma-like tissue (1.0)
INTERFACE_GAIN = 2.5    #: echogenicity factor of the 0.8 mm thick fascia / organ capsule interfaces
GAIN_FRACTION = 0.6     #: RMS echo of echogenicity 1 sits at this fraction of the dynamic range

_LAB = LABELS["us"]


@dataclass
class Scene:
    """Drawn sector geometry and echo scene (mm, rad)."""

    half_angle: float
    radius: float
    fat: tuple[float, float, float, float]      # thickness, undulation amplitude, wavelength, phase
    muscle: tuple[float, float, float, float]
    tilt: float
    dynamic_range_db: float
    cysts: list[dict] = field(default_factory=list)
    lesions: list[dict] = field(default_factory=list)

    def boundaries(self, x):
        """Depths (mm) of the fat/muscle and muscle/parenchyma boundaries at lateral positions ``x``."""
        t, a, lam, ph = self.fat
        y1 = t + a * np.sin(2 * np.pi * x / lam + ph) + self.tilt * x
        t2, a2, lam2, ph2 = self.muscle
        y2 = y1 + t2 + a2 * np.sin(2 * np.pi * x / lam2 + ph2)
        return y1, y2

    def labels(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Tissue labels at points ``(y, x)`` (mm; sector membership not checked)."""
        y1, y2 = self.boundaries(x)
        lab = np.full(np.broadcast(y, x).shape, _LAB["parenchyma"], np.uint8)
        lab[np.broadcast_to(y < y2, lab.shape)] = _LAB["muscle"]
        lab[np.broadcast_to(y < y1, lab.shape)] = _LAB["fat"]
        for items, value in ((self.cysts, _LAB["cyst"]), (self.lesions, _LAB["lesion"])):
            for it in items:
                cy, cx = it["center_mm"]
                ry, rx = it["radii_mm"]
                c, s = np.cos(it["angle"]), np.sin(it["angle"])
                u = (y - cy) * c + (x - cx) * s
                v = -(y - cy) * s + (x - cx) * c
                lab[np.broadcast_to((u / ry) ** 2 + (v / rx) ** 2 <= 1.0, lab.shape)] = value
        return lab


def _shadowed(c: np.ndarray, rad: float, cyst: dict) -> bool:
    """Whether an inclusion at ``c`` (radius ``rad``) lies in the enhanced band behind ``cyst``."""
    cc = np.asarray(cyst["center_mm"])
    span = np.arcsin(min((max(cyst["radii_mm"]) + rad) / max(np.linalg.norm(cc), 1e-3), 1.0))
    return bool(np.linalg.norm(c) > np.linalg.norm(cc) and
                abs(np.arctan2(c[1], c[0]) - np.arctan2(cc[1], cc[0])) < span)


def _place(rng: np.random.Generator, scene: Scene, taken: list[dict], rmin: float, rmax: float) -> dict:
    """An elliptic inclusion inside the parenchyma part of the sector, clear of earlier ones and (for
    lesions) not in the posterior enhancement band of a cyst."""
    _, y2 = scene.boundaries(np.linspace(-scene.radius, scene.radius, 64))
    top = float(np.max(y2))
    for attempt in range(300):
        rad = float(rng.uniform(rmin, rmax))
        lo, hi = top + rad + 4.0, scene.radius - rad - 4.0
        r = float(rng.uniform(lo, max(hi, lo + 1e-3)))
        lim = scene.half_angle - np.arcsin(min((rad + 4.0) / max(r, 1e-3), 1.0))
        th = float(rng.uniform(-lim, lim)) if lim > 0 else 0.0
        c = np.array([r * np.cos(th), r * np.sin(th)])
        if all(np.linalg.norm(c - np.asarray(t["center_mm"])) > rad + max(t["radii_mm"]) + 2.0 for t in taken) \
                and not any(_shadowed(c, rad, t) for t in scene.cysts) or attempt == 299:
            break
    radii = [rad * float(rng.uniform(0.8, 1.2)), rad * float(rng.uniform(0.8, 1.2))]
    return {"center_mm": c.tolist(), "radii_mm": radii, "angle": float(rng.uniform(0, np.pi)),
            "diameter_mm": float(sum(radii))}


def draw_scene(rng: np.random.Generator, fov_mm: float, spacing_mm: float, lesion: bool, parenchyma: float,
               fixed_lesion: float | None) -> Scene:
    """Draw sector geometry, layers, cysts and lesions from ``rng``."""
    u = rng.uniform
    half = np.radians(u(60.0, 75.0) / 2.0)
    margin = 2.0 * spacing_mm
    radius = float(min(fov_mm - margin, (fov_mm / 2.0 - margin) / np.sin(half)))
    scene = Scene(half_angle=float(half), radius=radius,
                  fat=(u(8.0, 18.0), u(0.0, 3.0), u(40.0, 100.0), u(0, 2 * np.pi)),
                  muscle=(u(10.0, 20.0), u(0.0, 3.0), u(40.0, 100.0), u(0, 2 * np.pi)),
                  tilt=u(-0.08, 0.08), dynamic_range_db=u(50.0, 60.0))
    for _ in range(int(rng.integers(1, 3))):
        scene.cysts.append(_place(rng, scene, scene.cysts, 4.0, 12.0))
    for _ in range(int(rng.integers(1, 4)) if lesion else 0):
        les = _place(rng, scene, scene.cysts + scene.lesions, 4.0, 12.0)
        hyper = rng.random() < 0.5
        factor = float(u(1.7, 2.8) if hyper else u(0.25, 0.55))
        les["kind"] = "hyperechoic" if hyper else "hypoechoic"
        les["echogenicity"] = float(fixed_lesion) if fixed_lesion is not None else factor * parenchyma
        scene.lesions.append(les)
    return scene


def synthesize_us(rng: np.random.Generator, *, size: int = 128, lesion: bool = True,
                  tissues: Mapping[str, Any] | None = None, spacing_mm: float | None = None) -> SyntheticCase:
    """Ultrasound B-mode sector image (log-compressed, 0..1) with its label map.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of every random draw (scene, scatterers, noise).
    size : int
        Image pixels per side.
    lesion : bool
        Draw 1-3 solid lesions or none (1-2 cysts are always present; they are not lesions).
    tissues : mapping, optional
        Relative echogenicity overrides (``fat``, ``muscle``, ``parenchyma``, ``cyst``; ``lesion``
        fixes every lesion's echogenicity).
    spacing_mm : float, optional
        Pixel spacing in mm (default ``FOV_MM / size``: 120 mm deep and wide).

    Returns
    -------
    SyntheticCase
    """
    values, fixed = resolve_tissues("us", tissues)
    s = float(spacing_mm) if spacing_mm else FOV_MM / size
    fov = s * size
    scene = draw_scene(rng, fov, s, lesion, values["parenchyma"], fixed)
    wavelength = SOUND_SPEED_MM_US / F0_MHZ
    dr = wavelength / 8.0
    n_r = int(np.ceil(scene.radius / dr))
    n_t = max(int(1.5 * size), 96)
    dtheta = 2 * scene.half_angle / n_t
    sigma_ax = max(0.25, 0.45 * s)
    sigma_lat_lines = max(0.8, 0.9 * s) / (0.5 * scene.radius) / dtheta
    r = ((np.arange(n_r) + 0.5) * dr)[:, None]
    th = (-scene.half_angle + (np.arange(n_t) + 0.5) * dtheta)[None, :]
    lab_polar = scene.labels(r * np.cos(th), r * np.sin(th))
    echo_lut = np.zeros(256, np.float32)
    alpha_lut = np.zeros(256, np.float32)
    for name in ("fat", "muscle", "parenchyma", "cyst"):
        echo_lut[_LAB[name]] = values[name]
        alpha_lut[_LAB[name]] = ATTENUATION_DB_CM_MHZ[name]
    alpha_lut[_LAB["lesion"]] = ATTENUATION_DB_CM_MHZ["lesion"]
    echo = echo_lut[lab_polar]
    if scene.lesions:  # each lesion has its own echogenicity
        y, x = r * np.cos(th), r * np.sin(th)
        for les in scene.lesions:
            sub = Scene(scene.half_angle, scene.radius, scene.fat, scene.muscle, scene.tilt,
                        scene.dynamic_range_db, [], [les])
            echo[(sub.labels(y, x) == _LAB["lesion"])] = les["echogenicity"]
    # specular interfaces: bright fascia between fat and muscle, organ capsule below the muscle
    y1, y2 = scene.boundaries(r * np.sin(th))
    depth = r * np.cos(th)
    echo[(depth >= y1) & (depth < y1 + 0.8) & (lab_polar == _LAB["muscle"])] *= INTERFACE_GAIN
    echo[(depth >= y2) & (depth < y2 + 0.8) & (lab_polar == _LAB["parenchyma"])] *= INTERFACE_GAIN
    amp = echo * attenuation_gain(alpha_lut[lab_polar], dr, F0_MHZ, TGC_DB_CM_MHZ)
    ref = rms_envelope(dr, wavelength, sigma_ax, sigma_lat_lines)
    noise_rms = ref * 10 ** (NOISE_DB / 20.0) / np.sqrt(2.0)
    rf = rf_lines(amp, rng, dr_mm=dr, wavelength_mm=wavelength, sigma_axial_mm=sigma_ax,
                  sigma_lateral_lines=sigma_lat_lines, noise_rms=noise_rms)
    env = envelope(rf)
    env = ndi.gaussian_filter1d(env, max(0.25 * s / dr, 0.5), axis=0)  # anti-alias before resampling
    bmode_polar = log_compress(env, ref, scene.dynamic_range_db, GAIN_FRACTION * scene.dynamic_range_db)
    image, inside, yy, xx = scan_convert(bmode_polar, dr, scene.half_angle, size, s, scene.radius)
    label = np.where(inside, scene.labels(yy, xx), 0).astype(np.uint8)
    for les in scene.lesions:
        les["pixels"] = int(np.count_nonzero(
            Scene(scene.half_angle, scene.radius, scene.fat, scene.muscle, scene.tilt, scene.dynamic_range_db,
                  [], [les]).labels(yy, xx)[inside] == _LAB["lesion"]))
    meta = {
        "modality": "us", "ndim": 2, "shape": [size, size], "spacing_mm": [s, s],
        "geometry": {"opening_deg": float(np.degrees(2 * scene.half_angle)), "depth_mm": scene.radius,
                     "apex": "top centre"},
        "f0_mhz": F0_MHZ, "dynamic_range_db": scene.dynamic_range_db, "psf_sigma_axial_mm": sigma_ax,
        "psf_sigma_lateral_mm_at_half_depth": float(sigma_lat_lines * dtheta * 0.5 * scene.radius),
        "layers_mm": {"fat": scene.fat[0], "muscle": scene.muscle[0]},
        "cysts": scene.cysts, "n_lesions": len(scene.lesions), "lesions": scene.lesions,
        "echogenicity": dict(values),
    }
    return SyntheticCase(image=image, label=label, spacing=(s, s), legend=dict(LEGENDS["us"]),
                         class_label=int(np.any(label == _LAB["lesion"])), sequences={}, meta=jsonable(meta))
