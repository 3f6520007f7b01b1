"""Image metrics: fidelity against a reference (PSNR/SSIM/MAE) and reference-free quality
(SNR, CNR, entropy). Degradation grading (MTF, artifact index) and task metrics live beside them.
"""
from .fidelity import mae, psnr, ssim
from .quality import cnr, entropy_bits, snr_db

__all__ = ["mae", "psnr", "ssim", "cnr", "entropy_bits", "snr_db"]
