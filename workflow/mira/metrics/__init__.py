"""Image metrics: fidelity against a reference (PSNR/SSIM/MAE over the modality's window, and PSNR/MAE
over the full physical range and above the window) and reference-free quality (SNR, CNR, entropy).
Degradation grading (MTF, artifact index) and task metrics live beside them.
"""
from .fidelity import full_data_range, mae, mae_above_window, mae_full_range, psnr, psnr_full_range, ssim
from .quality import cnr, entropy_bits, snr_db

__all__ = ["mae", "psnr", "ssim", "psnr_full_range", "mae_full_range", "mae_above_window", "full_data_range", "cnr",
           "entropy_bits", "snr_db"]
