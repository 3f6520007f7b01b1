"""Calibrated parameters of every degradation at each severity level, per modality.

This table is the single place that says which degradation applies to which modality (its keys)
and what *mild*, *moderate* and *severe* mean physically. The values were calibrated on the 2D
synthetic phantoms (``source: phantom``) so that the measured grade (:mod:`mira.degrade.grading`)
lands in the intended band for most cases; the grading table of every run reports the landing rate.
Config key ``degrade.parameters`` overrides single values.

``downsample`` (super-resolution inputs, levels ``x2``, ``x3``, ``x4``) applies to every modality and
is not in this table.
"""
from __future__ import annotations

LEVEL_NAMES = ("mild", "moderate", "severe")
SR_SCALES = (2, 3, 4)


def _lv(key, mild, moderate, severe, **common):
    return {"mild": {key: mild, **common}, "moderate": {key: moderate, **common}, "severe": {key: severe, **common}}


LEVELS: dict[str, dict[str, dict[str, dict]]] = {
    "ct": {
        # SNR: I0 photons per detector bin and view (phantom: 2.97 mm bins, 202 views)
        "low_dose": _lv("incident_photons", 1.2e5, 1.1e4, 1.1e3, electronic_sigma=2.0),
        "gaussian_noise": _lv("sigma", 15.0, 55.0, 180.0),  # HU
        "blur": _lv("fwhm_px", 1.4, 2.7, 5.0),  # MTF at 0.125 cycles/px: 90 %, 67 %, 25 %
        "metal": {"mild": {"radius_mm": 1.5, "metal_mu_per_mm": 0.1},  # titanium screw
                  "moderate": {"radius_mm": 3.0, "metal_mu_per_mm": 0.3},  # steel rod
                  "severe": {"radius_mm": 5.0, "metal_mu_per_mm": 0.3, "n_objects": 2}},  # bilateral implants
        "sparse_view": _lv("n_views", 90, 45, 20),  # of a full 202
        "motion": _lv("amplitude_mm", 0.5, 1.7, 5.0),  # breathing-like, one cycle per rotation
        # larger patient at I0 = 2e5: water layer around the body (cm) + residual scatter-to-primary ratio
        "body_habitus": {"mild": {"extra_water_cm": 2.0, "scatter_fraction": 0.005},
                         "moderate": {"extra_water_cm": 6.0, "scatter_fraction": 0.02},
                         "severe": {"extra_water_cm": 12.0, "scatter_fraction": 0.05}},
    },
    "mri": {
        "rician_noise": _lv("sigma", 0.01, 0.035, 0.1),  # white matter ~0.78
        "blur": _lv("fwhm_px", 1.4, 2.7, 5.0),
        "undersampling": {"mild": {"acceleration": 2, "center_fraction": 0.9},
                          "moderate": {"acceleration": 3, "center_fraction": 0.5},
                          "severe": {"acceleration": 4, "center_fraction": 0.08}},  # fastMRI 4x
        "gibbs": _lv("keep_fraction", [0.96, 1.0], [0.7, 1.0], [0.35, 1.0]),  # shorter phase-encode matrix
        "motion": {"mild": {"corrupted_fraction": 0.04, "max_shift_mm": 0.8},
                   "moderate": {"corrupted_fraction": 0.1, "max_shift_mm": 2.0},
                   "severe": {"corrupted_fraction": 0.35, "max_shift_mm": 4.0}},
        "bias_field": _lv("strength", 0.12, 0.35, 1.5),
        # stripe amplitude = intensity x mean image intensity; severe: two spikes (criss-cross)
        "spike": {"mild": {"intensity": 0.04}, "moderate": {"intensity": 0.13},
                  "severe": {"intensity": 0.3, "n_spikes": 2}},
    },
    "xray": {
        "quantum_noise": _lv("photons_per_pixel", 3e4, 3e3, 3e2, electronic_sigma=1.0),
        "gaussian_noise": _lv("sigma", 0.002, 0.0072, 0.026),  # I/I0; lung ~0.18
        "blur": _lv("fwhm_px", 1.4, 2.7, 5.0),
        "motion": _lv("length_px", 2.0, 3.9, 7.0),  # MTF |sinc(L f)|: 90 %, 65 %, 14 %
        "scatter": _lv("spr", 0.03, 0.1, 0.3),
        "quantization": _lv("bits", 7, 5, 3),
        "clipping": {"mild": {"low": 0.012, "high": 1.0}, "moderate": {"low": 0.025, "high": 0.995},
                     "severe": {"low": 0.05, "high": 0.9}},
        # larger patient at N0 = 1e5: extra water on each side (cm) + scatter-to-primary ratio
        "body_habitus": {"mild": {"extra_water_cm": 4.0, "spr": 0.02},
                         "moderate": {"extra_water_cm": 8.0, "spr": 0.08},
                         "severe": {"extra_water_cm": 14.0, "spr": 0.25}},
    },
    "us": {
        "speckle": _lv("looks", 60, 6, 1),
        "blur": _lv("fwhm_px", 1.4, 2.7, 5.0),
        # 3.5 MHz: extra fat layer (cm, 0.6 dB/cm/MHz) + attenuation beyond the TGC (dB/cm/MHz)
        "body_habitus": {"mild": {"layer_cm": 3.0, "excess_db_cm_mhz": 0.02},
                         "moderate": {"layer_cm": 5.5, "excess_db_cm_mhz": 0.05},
                         "severe": {"layer_cm": 8.0, "excess_db_cm_mhz": 0.1}},
    },
}
