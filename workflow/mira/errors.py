"""Exception hierarchy of mira.

Every error a user can cause (bad file, bad config, bad parameter) is raised as a subclass of
:class:`MiraError`, with a message that names the offending file or config key. The pipeline's
scripts turn these into one clear line on stderr and a non-zero exit (see :mod:`mira.cli`).
"""
from __future__ import annotations


class MiraError(Exception):
    """Base class of every error mira raises on purpose."""


class InputError(MiraError):
    """An input file or folder is missing, unreadable, corrupt or of the wrong kind."""


class UnreadableError(InputError):
    """A file that belongs to an input source but cannot be read whole: zero bytes, unreadable,
    truncated (shorter than its header says), an image object without pixel data.

    A source with ``on_unreadable: skip`` turns these, and only these, into listed skips.
    """


class ConfigError(MiraError):
    """The configuration is invalid: unknown key, wrong type, unknown modality, ..."""


class ParameterError(MiraError, ValueError):
    """A function received a parameter outside its documented range."""


class OutputError(MiraError):
    """An output could not be written (disk full, quota, file size limit, read-only file system...).

    The message names the output path and the system's reason; nothing partial is left behind.
    """
