"""mira: Medical Image Restoration and Augmentation.

Sub-packages: ``mira.synthesis`` (phantoms), ``mira.ingest`` (real images), ``mira.augment``,
``mira.degrade``, ``mira.restore``, ``mira.metrics``; the study layer ``mira.study`` (settings,
plan, jobs, and ``mira.study.report``: every table and figure). Shared pieces:
``mira.modalities`` (profiles), ``mira.io`` and ``mira.dataset`` (data contract), ``mira.seeding``.
"""
from .errors import ConfigError, InputError, MiraError, ParameterError
from .modalities import MODALITIES, ModalityProfile, get_profile

__version__ = "0.1.0"
__all__ = ["ConfigError", "InputError", "MiraError", "ParameterError", "MODALITIES", "ModalityProfile", "get_profile"]
