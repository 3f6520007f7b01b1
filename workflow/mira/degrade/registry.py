"""The degradation registry: name -> physics function, the measure that grades it, its parameters.

Which degradation applies to which modality is data: the keys of
:data:`mira.degrade.levels.LEVELS` (one table, with the calibrated parameters of every level).
Every model is applied through :func:`apply`, which

1. resolves the parameters (a level name -> the calibrated table, or an explicit dict, merged over
   the model's defaults; unknown keys are a :class:`~mira.errors.ParameterError`);
2. *draws* the case-specific random quantities from the caller's generator (noise seed, motion
   direction, metal position...) and records them in the parameters;
3. runs the pure physics function of (image, spacing, parameters); volumes slice by slice for
   the 2D-only physics (CT sinograms, MRI k-space), and
4. clips the result to the modality's physical value range.

The returned :class:`Degraded` carries the fully resolved parameters, so ``apply(name, image,
out.params, ...)`` replays the call exactly, on the same image or on another one (the MTF grading
replays blur-type degradations on an edge phantom).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from scipy import ndimage as ndi

from ..errors import ConfigError, ParameterError
from ..modalities import ModalityProfile, as_profile
from . import ct_projection as ctp
from . import motion as mo
from . import mri_kspace as mk
from . import noise as nz
from . import resolution as res
from . import ultrasound as us
from . import xray as xr
from .levels import LEVEL_NAMES, LEVELS, SR_SCALES

Runner = Callable[[np.ndarray, tuple, dict, np.random.Generator], tuple[np.ndarray, np.ndarray]]
Drawer = Callable[[dict, np.random.Generator, np.ndarray, tuple], dict]

SR_NAME = "downsample"
_SR_LEVEL = re.compile(r"^x(\d+)$")


@dataclass(frozen=True)
class DegradationModel:
    """One degradation as applied to one modality.

    Attributes
    ----------
    name : str
        Registry name (``"low_dose"``, ``"blur"``, ...).
    measure : str
        What grades it: ``"snr"`` (noise: SNR, with CNR reported), ``"mtf"`` (resolution) or
        ``"artifact"`` (artifact index).
    summary : str
        One line for tables and the README.
    defaults : dict
        Every accepted parameter and its default (``None``: must come from the level or be drawn).
    run : callable
        ``run(image, spacing, params, rng) -> (degraded, reference)``, pure given ``params`` and ``rng``.
    draw : callable or None
        ``draw(params, rng, image, spacing) -> dict`` of case-specific values to record.
    planar : bool
        The physics is 2D: volumes are processed slice by slice (axis 0).
    random : bool
        Needs a noise ``seed`` (drawn and recorded by :func:`apply`).
    drawn : tuple of str
        The parameters ``draw`` provides when they are not given.
    in_pixels : dict
        ``{"x_px": "x_mm"}``: a size may be given in pixels instead of mm (the level table does, so a
        level means the same relative to the grid, where the MTF is graded); :func:`apply` converts
        it with the smallest in-plane spacing and records only the mm value.
    """

    name: str
    measure: str
    summary: str
    defaults: Mapping[str, Any]
    run: Runner
    draw: Drawer | None = None
    planar: bool = False
    random: bool = False
    drawn: tuple[str, ...] = ()
    in_pixels: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Degraded:
    """Result of :func:`apply`: degraded image, its reference, spacings and the replayable parameters."""

    image: np.ndarray
    reference: np.ndarray
    spacing: tuple[float, ...]
    reference_spacing: tuple[float, ...]
    params: dict
    name: str
    modality: str
    level: str = ""
    model: DegradationModel | None = field(default=None, repr=False)
    #: The resolved profile the degradation ran with (value range of the clip, default spacing).
    profile: ModalityProfile | None = field(default=None, repr=False)


# ---- runners (pure given params and rng) ------------------------------------------------------------


def _same(fn):
    """Wrap a function returning only the degraded image: reference = input."""
    def run(img, spacing, p, rng):
        return fn(img, spacing, p, rng), img
    return run


def _metal_centres(p, rng, img, spacing):
    """Draw metal disk centres inside the body (HU > -400), away from its border and from each other."""
    sl = img if img.ndim == 2 else img[img.shape[0] // 2]
    sp = np.asarray(spacing[-2:], dtype=float)
    r_px = float(p["radius_mm"]) / sp.min()
    body = ndi.binary_erosion(sl > -400.0, iterations=max(int(np.ceil(r_px)) + 2, 1))
    cand = np.argwhere(body)
    centres: list[list[float]] = []
    for _ in range(int(p["n_objects"])):
        if cand.size == 0:
            yx = (np.array(sl.shape) - 1) / 2.0
        else:
            ok = cand
            for c in centres:
                d = np.hypot(*((ok * sp - np.asarray(c)).T))
                ok = ok[d > 4.0 * float(p["radius_mm"])]
            pool = ok if ok.size else cand
            yx = pool[rng.integers(len(pool))].astype(float)
        centres.append([round(float(yx[0] * sp[0]), 3), round(float(yx[1] * sp[1]), 3)])
    return {"centers_mm": centres}


def _direction_draw(p, rng, img, spacing):
    return {"direction_deg": round(float(rng.uniform(0.0, 180.0)), 3)}


def _ct_motion_draw(p, rng, img, spacing):
    return {"direction_deg": round(float(rng.uniform(0.0, 180.0)), 3),
            "phase": round(float(rng.uniform(0.0, 2 * np.pi)), 4)}


def _spike_draw(p, rng, img, spacing):
    positions, phases = mk.draw_spikes(p["n_spikes"], rng, p["min_frequency"])
    return {"positions": positions, "phases": phases}


def _run_metal(img, spacing, p, rng):
    return ctp.metal_artifact_ct(img, spacing, p["centers_mm"], p["radius_mm"], rng,
                                 metal_mu_per_mm=p["metal_mu_per_mm"], incident_photons=p["incident_photons"],
                                 electronic_sigma=p["electronic_sigma"], beam_hardening=p["beam_hardening"],
                                 n_views=p["n_views"])


def _undersample(img, spacing, p, rng):
    mask = mk.cartesian_mask(img.shape[-2], p["acceleration"], p["center_fraction"], pattern=p["pattern"], rng=rng)
    return mk.undersample(img, mask)


_BLUR = dict(name="blur", measure="mtf", summary="Gaussian PSF blur, FWHM in mm (or pixels)",
             defaults={"fwhm_mm": None, "fwhm_px": None}, in_pixels={"fwhm_px": "fwhm_mm"},
             run=_same(lambda i, s, p, r: res.psf_blur(i, s, p["fwhm_mm"])))

_MODELS: dict[tuple[str, str], DegradationModel] = {}


def _register(modalities: Sequence[str], **kw) -> None:
    for m in modalities:
        _MODELS[(m, kw["name"])] = DegradationModel(**kw)


_register(("ct", "xray"), name="gaussian_noise", measure="snr", random=True,
          summary="additive white Gaussian (electronic) noise, sigma in native units",
          defaults={"sigma": None}, run=_same(lambda i, s, p, r: nz.gaussian_noise(i, p["sigma"], r)))
_register(("ct",), name="low_dose", measure="snr", random=True, planar=True,
          summary="low-dose CT: Poisson counts (I0 photons/ray) + electronic noise in the sinogram, FBP",
          defaults={"incident_photons": None, "electronic_sigma": 0.0, "n_views": None},
          run=_same(lambda i, s, p, r: ctp.low_dose_ct(i, s, p["incident_photons"], r,
                                                      electronic_sigma=p["electronic_sigma"], n_views=p["n_views"])))
_register(("mri",), name="rician_noise", measure="snr", random=True,
          summary="Rician noise: complex Gaussian (sigma per channel), magnitude",
          defaults={"sigma": None}, run=_same(lambda i, s, p, r: nz.rician_noise(i, p["sigma"], r)))
_register(("xray",), name="quantum_noise", measure="snr", random=True,
          summary="quantum noise: Poisson on detector counts (N0 photons/pixel) + electronic noise",
          defaults={"photons_per_pixel": None, "electronic_sigma": 0.0},
          run=_same(lambda i, s, p, r: xr.quantum_noise(i, p["photons_per_pixel"], r, p["electronic_sigma"])))
_register(("us",), name="speckle", measure="snr", random=True,
          summary="multiplicative Rayleigh speckle on the echo amplitude, averaged over N looks",
          defaults={"looks": None, "grain_mm": 0.0, "dynamic_range_db": us.DYNAMIC_RANGE_DB},
          run=_same(lambda i, s, p, r: us.speckle(i, p["looks"], r, spacing=s, grain_mm=p["grain_mm"],
                                                  dynamic_range_db=p["dynamic_range_db"])))
_register(("ct", "mri", "xray", "us"), **_BLUR)
_register(("ct",), name="metal", measure="artifact", random=True, planar=True, draw=_metal_centres,
          drawn=("centers_mm",),
          summary="metal disks in the sinogram: beam hardening + photon starvation, FBP streaks",
          defaults={"radius_mm": None, "n_objects": 1, "metal_mu_per_mm": 0.3, "incident_photons": 1e5,
                    "electronic_sigma": 5.0, "beam_hardening": 0.3, "n_views": None, "centers_mm": None},
          run=_run_metal)
_register(("ct",), name="sparse_view", measure="artifact", planar=True,
          summary="angular undersampling: FBP from few views (aliasing streaks)",
          defaults={"n_views": None},
          run=_same(lambda i, s, p, r: ctp.sparse_view_ct(i, s, p["n_views"])))
_register(("ct",), name="motion", measure="artifact", planar=True, draw=_ct_motion_draw,
          drawn=("direction_deg", "phase"),
          summary="rigid patient motion during the rotation (inconsistent views), FBP",
          defaults={"amplitude_mm": None, "pattern": "breathing", "cycles": 1.0, "direction_deg": None,
                    "phase": None, "n_views": None},
          run=_same(lambda i, s, p, r: ctp.motion_ct(i, s, p["amplitude_mm"], p["direction_deg"], pattern=p["pattern"],
                                                    cycles=p["cycles"], phase=p["phase"], n_views=p["n_views"])))
_register(("mri",), name="undersampling", measure="artifact", random=True, planar=True,
          summary="Cartesian k-space undersampling (acceleration R, fully sampled centre), zero-filled",
          defaults={"acceleration": None, "center_fraction": 0.08, "pattern": "equispaced"}, run=_same(_undersample))
_register(("mri",), name="gibbs", measure="artifact", planar=True,
          summary="k-space truncation to a central fraction: Gibbs ringing",
          defaults={"keep_fraction": None}, run=_same(lambda i, s, p, r: mk.gibbs_truncation(i, p["keep_fraction"])))
_register(("mri",), name="motion", measure="artifact", random=True, planar=True,
          summary="rigid motion between phase-encode lines: k-space phase errors, ghosting",
          defaults={"corrupted_fraction": None, "max_shift_mm": None, "center_fraction": 0.08},
          run=_same(lambda i, s, p, r: mk.motion_ghosting(i, s, r, corrupted_fraction=p["corrupted_fraction"],
                                                          max_shift_mm=p["max_shift_mm"],
                                                          center_fraction=p["center_fraction"])))
_register(("mri",), name="bias_field", measure="artifact", random=True,
          summary="smooth multiplicative bias field within [1/(1+s), 1+s]",
          defaults={"strength": None, "order": 3},
          run=_same(lambda i, s, p, r: mk.bias_field(i, p["strength"], r, p["order"])))
_register(("xray",), name="scatter", measure="artifact",
          summary="scattered radiation: smooth additive veil, mean scatter-to-primary ratio SPR",
          defaults={"spr": None, "kernel_fwhm_mm": 60.0},
          run=_same(lambda i, s, p, r: xr.scatter(i, s, p["spr"], p["kernel_fwhm_mm"])))
_register(("xray",), name="quantization", measure="artifact",
          summary="ADC quantisation to N bits over [0, 1]",
          defaults={"bits": None}, run=_same(lambda i, s, p, r: xr.quantize(i, p["bits"])))
_register(("xray",), name="clipping", measure="artifact",
          summary="detector dynamic range: values outside [low, high] clipped",
          defaults={"low": None, "high": None},
          run=_same(lambda i, s, p, r: xr.clip_dynamic_range(i, p["low"], p["high"])))
_register(("xray",), name="motion", measure="mtf", draw=_direction_draw, drawn=("direction_deg",), planar=True,
          summary="patient motion during the exposure: uniform linear motion blur of L mm (or pixels)",
          defaults={"length_mm": None, "length_px": None, "direction_deg": None},
          in_pixels={"length_px": "length_mm"},
          run=_same(lambda i, s, p, r: mo.linear_motion_blur(i, s, p["length_mm"], p["direction_deg"])))

_register(("ct",), name="body_habitus", measure="snr", random=True, planar=True,
          summary="larger patient: extra water layer around the body (fewer photons, more noise) + scatter, FBP",
          defaults={"extra_water_cm": None, "incident_photons": 2e5, "scatter_fraction": 0.0,
                    "scatter_fwhm_mm": 100.0, "electronic_sigma": 2.0, "n_views": None},
          run=_same(lambda i, s, p, r: ctp.body_habitus_ct(
              i, s, p["extra_water_cm"], p["incident_photons"], r, scatter_fraction=p["scatter_fraction"],
              scatter_fwhm_mm=p["scatter_fwhm_mm"], electronic_sigma=p["electronic_sigma"], n_views=p["n_views"])))
_register(("xray",), name="body_habitus", measure="snr", random=True, planar=True,
          summary="larger patient: extra water on the beam path (more quantum noise) + more scatter (SPR)",
          defaults={"extra_water_cm": None, "photons_per_pixel": 1e5, "spr": 0.0, "kernel_fwhm_mm": 60.0,
                    "electronic_sigma": 1.0},
          run=_same(lambda i, s, p, r: xr.body_habitus_xray(
              i, s, p["extra_water_cm"], p["photons_per_pixel"], r, spr=p["spr"],
              kernel_fwhm_mm=p["kernel_fwhm_mm"], electronic_sigma=p["electronic_sigma"])))
_register(("us",), name="body_habitus", measure="snr", random=True,
          summary="larger patient: TGC-uncompensated attenuation (dB/cm/MHz) over a fixed receiver noise floor",
          defaults={"layer_cm": None, "frequency_mhz": 3.5, "layer_db_cm_mhz": 0.6, "excess_db_cm_mhz": 0.0,
                    "noise_floor_db": -70.0, "restore_gain": True, "dynamic_range_db": us.DYNAMIC_RANGE_DB},
          run=_same(lambda i, s, p, r: us.body_habitus_us(i, s, p["layer_cm"], r, **{
              k: p[k] for k in ("frequency_mhz", "layer_db_cm_mhz", "excess_db_cm_mhz", "noise_floor_db",
                                "restore_gain", "dynamic_range_db")})))
_register(("mri",), name="spike", measure="artifact", planar=True, draw=_spike_draw, drawn=("positions", "phases"),
          summary="k-space spikes (bad data points): herringbone stripes across the image",
          defaults={"intensity": None, "n_spikes": 1, "min_frequency": 0.05, "positions": None, "phases": None},
          run=_same(lambda i, s, p, r: mk.kspace_spikes(i, p["positions"], p["intensity"], p["phases"])))


def _run_downsample(img, spacing, p, rng):  # pragma: no cover - handled in apply (grid changes)
    raise AssertionError


_register(("ct", "mri", "xray", "us"), name=SR_NAME, measure="mtf",
          summary="anti-aliased downsampling by an integer scale (super-resolution input)",
          defaults={"scale": None}, run=_run_downsample)


# ---- public API ------------------------------------------------------------------------------------


def degradations_for(modality: ModalityProfile | str) -> tuple[str, ...]:
    """Degradations (graded at mild/moderate/severe) that apply to ``modality`` (a profile or its name)."""
    return tuple(LEVELS.get(as_profile(modality).name, {}))


def get_model(name: str, modality: ModalityProfile | str) -> DegradationModel:
    """The model of degradation ``name`` for ``modality`` (a profile or its name).

    Raises
    ------
    ConfigError
        If ``name`` is unknown or does not apply to ``modality`` (the message lists what does).
    """
    mod = as_profile(modality).name
    model = _MODELS.get((mod, str(name)))
    if model is None:
        known = sorted({n for _, n in _MODELS})
        if name not in known:
            raise ConfigError(f"unknown degradation {name!r} (known: {', '.join(known)})")
        raise ConfigError(f"degradation {name!r} does not apply to {mod} "
                          f"(for {mod}: {', '.join(degradations_for(mod) + (SR_NAME,))})")
    return model


def level_params(name: str, modality: ModalityProfile | str, level: str, overrides: Mapping | None = None) -> dict:
    """Calibrated parameters of ``level`` (``mild``, ``moderate``, ``severe``; ``x2``.. for downsample).

    ``overrides`` is the config mapping ``{modality: {name: {level: {param: value}}}}``.
    """
    model = get_model(name, modality)
    mod = as_profile(modality).name
    if name == SR_NAME:
        m = _SR_LEVEL.match(str(level))
        if not m:
            raise ParameterError(f"downsample levels are x<scale> (e.g. x2), got {level!r}")
        params = {"scale": int(m.group(1))}
    else:
        if level not in LEVEL_NAMES:
            raise ParameterError(f"unknown level {level!r} (known: {', '.join(LEVEL_NAMES)})")
        params = dict(LEVELS[mod][name][level])
    extra = (((overrides or {}).get(mod) or {}).get(name) or {}).get(level) or {}
    unknown = set(extra) - set(model.defaults)
    if unknown:
        raise ConfigError(f"config key degrade.parameters.{mod}.{name}.{level}: unknown parameter(s) "
                          f"{sorted(unknown)} (known: {sorted(model.defaults)})")
    params.update(extra)
    return params


def resolve_params(model: DegradationModel, params: Mapping[str, Any]) -> dict:
    """Merge ``params`` over the model defaults; unknown keys raise ParameterError."""
    unknown = set(params) - set(model.defaults) - {"seed"}
    if unknown:
        raise ParameterError(f"{model.name}: unknown parameter(s) {sorted(unknown)} (known: {sorted(model.defaults)})")
    out = {**model.defaults, **dict(params)}
    return out


def _as_image(image) -> np.ndarray:
    img = np.asarray(image, dtype=np.float64)
    if img.ndim not in (2, 3):
        raise ParameterError(f"degradations take 2D or 3D images, got shape {img.shape}")
    if not np.all(np.isfinite(img)):
        raise ParameterError("image contains NaN or inf")
    return img


def apply(name: str, image: np.ndarray, level: str | Mapping[str, Any] = "moderate",
          rng: np.random.Generator | None = None, *, profile: ModalityProfile | str | None = None,
          spacing: Sequence[float] | None = None, overrides: Mapping | None = None,
          modality: str | None = None) -> Degraded:
    """Degrade ``image`` with the physics model ``name`` of the modality of ``profile``.

    Parameters
    ----------
    name : str
        A degradation of :func:`degradations_for` (``modality``), or ``"downsample"``.
    image : array
        2D ``(y, x)`` or 3D ``(z, y, x)`` image in the modality's native units.
    level : str or mapping
        ``"mild"``, ``"moderate"``, ``"severe"`` (calibrated table, :mod:`mira.degrade.levels`),
        ``"x2"``/``"x3"``/``"x4"`` for ``downsample``, or an explicit parameter mapping (e.g. the
        ``params`` of an earlier result, to replay it).
    rng : numpy.random.Generator
        Draws the case-specific values (noise seed, directions, positions). Required unless the
        parameters already hold them.
    profile : ModalityProfile
        The resolved modality profile (``Settings.profile(m)``): the result is clipped to its
        ``value_range``; its ``default_spacing_mm`` applies when ``spacing`` is not given. A modality
        name is accepted for now (built-in profile, no config overrides).
    spacing : sequence of float
        Pixel spacing in mm, numpy order (default: the profile's default spacing).
    overrides : mapping, optional
        Config overrides of the level table (see :func:`level_params`).
    modality : str, optional
        Transitional alias of ``profile`` (a modality name); give one of the two.

    Returns
    -------
    Degraded

    Raises
    ------
    ConfigError
        Unknown degradation, or one that does not apply to ``modality``.
    ParameterError
        Bad parameter values (dose <= 0, negative FWHM, ...) or a bad image.
    """
    if (profile is None) == (modality is None):
        raise ParameterError(f"{name}: give the modality profile (profile=...), exactly once")
    profile = as_profile(profile if profile is not None else modality)
    model = get_model(name, profile.name)
    img = _as_image(image)
    sp = tuple(float(s) for s in (spacing if spacing is not None else (profile.default_spacing_mm,) * img.ndim))
    if len(sp) != img.ndim or min(sp) <= 0:
        raise ParameterError(f"spacing {sp} does not fit an image of shape {img.shape}")
    if isinstance(level, str):
        lvl, params = level, level_params(name, profile.name, level, overrides)
    else:
        lvl, params = "", dict(level)
    params = _case_params(model, resolve_params(model, params), rng, img, sp)
    return _run(model, img, sp, params, profile, lvl)


def _case_params(model: DegradationModel, params: dict, rng: np.random.Generator | None, img: np.ndarray,
                 sp: tuple[float, ...]) -> dict:
    """Complete resolved ``params`` for one image: pixel values to mm, drawn case values, the noise seed."""
    name = model.name

    def need_rng():
        if rng is None:
            raise ParameterError(f"{name}: an rng is needed to draw the case-specific parameters")
        return rng

    for px_key, mm_key in model.in_pixels.items():
        if params.get(px_key) is not None:
            if params.get(mm_key) is not None:
                raise ParameterError(f"{name}: give {mm_key} or {px_key}, not both")
            params[mm_key] = round(float(params[px_key]) * min(sp[-2:]), 6)
            params[px_key] = None
    if model.draw is not None and any(params.get(k) is None for k in model.drawn):
        params.update({k: v for k, v in model.draw(params, need_rng(), img, sp).items() if params.get(k) is None})
    if model.random and params.get("seed") is None:
        params["seed"] = int(need_rng().integers(0, 2 ** 63 - 1))
    optional = {"n_views", *model.in_pixels}
    missing = [k for k, v in params.items() if v is None and k not in optional]
    if missing:
        raise ParameterError(f"{name}: missing parameter(s) {missing}")
    return params


def _run(model: DegradationModel, img: np.ndarray, sp: tuple[float, ...], params: dict, profile: ModalityProfile,
         lvl: str) -> Degraded:
    """Run the model with complete ``params`` (slice by slice for a planar model on a volume)."""
    name = model.name
    noise_rng = np.random.default_rng(params.get("seed", 0))
    if name == SR_NAME:
        lr, lr_sp, hr = res.downsample(img, sp, params["scale"])
        return Degraded(image=profile.clip(lr), reference=hr, spacing=lr_sp, reference_spacing=sp, params=params,
                        name=name, modality=profile.name, level=lvl or f"x{params['scale']}", model=model,
                        profile=profile)
    if model.planar and img.ndim == 3:
        pairs = [model.run(img[z], sp[1:], params, noise_rng) for z in range(img.shape[0])]
        deg, ref = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
    else:
        deg, ref = model.run(img, sp, params, noise_rng)
    return Degraded(image=profile.clip(np.asarray(deg, dtype=np.float64)), reference=np.asarray(ref, dtype=np.float64),
                    spacing=sp, reference_spacing=sp, params=params, name=name, modality=profile.name, level=lvl,
                    model=model, profile=profile)


def all_models() -> dict[tuple[str, str], DegradationModel]:
    """Every registered (modality, name) -> model (a copy)."""
    return dict(_MODELS)


def sr_levels(scales: Sequence[int] = SR_SCALES) -> tuple[str, ...]:
    """Level names of the super-resolution inputs: ``("x2", "x3", "x4")``."""
    return tuple(f"x{int(s)}" for s in scales)
