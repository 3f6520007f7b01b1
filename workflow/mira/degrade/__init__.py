"""Physics-based degradation simulation for CT, MRI, X-ray and ultrasound, graded by severity.

Library use::

    from mira.degrade import apply, degradations_for
    out = apply("low_dose", ct_slice, "moderate", rng, profile=get_profile("ct"), spacing=(0.8, 0.8))
    out.image, out.reference, out.params       # degraded, clean reference, replayable parameters

Modules: :mod:`.noise` (Gaussian, Poisson, Rician), :mod:`.ct_projection` (low dose, metal, sparse
views, motion, body habitus in the sinogram), :mod:`.mri_kspace` (undersampling, Gibbs, motion
ghosting, spikes, bias field), :mod:`.resolution` (PSF blur, SR downsampling, aliasing), :mod:`.xray`
(quantum noise, scatter, quantisation, clipping, body habitus), :mod:`.motion` (linear motion blur),
:mod:`.ultrasound` (speckle, body habitus),
:mod:`.levels` (calibrated parameters per level), :mod:`.grading` (SNR/CNR/MTF/artifact index and
bands), :mod:`.pairs` (paired datasets on disk, the contract the restoration stage reads).
"""
from .levels import LEVEL_NAMES, LEVELS, SR_SCALES
from .registry import (
                       SR_NAME,
                       DegradationModel,
                       Degraded,
                       all_models,
                       apply,
                       degradations_for,
                       get_model,
                       level_params,
                       sr_levels,
)

__all__ = ["LEVEL_NAMES", "LEVELS", "SR_SCALES", "SR_NAME", "Degraded", "DegradationModel", "all_models", "apply",
           "degradations_for", "get_model", "level_params", "sr_levels"]
