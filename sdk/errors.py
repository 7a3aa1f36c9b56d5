"""Typed errors of SenseGen Privacy.

Every error subclasses a built-in so callers can catch either the precise type or the
built-in one (``ValueError``, ``RuntimeError``, ``OSError``).
"""
from __future__ import annotations


class SenseGenError(Exception):
    """Base class of every error raised on purpose by this project."""


class InputError(SenseGenError, ValueError):
    """A sample pushed into a stream is unusable (shape, NaN/inf, timestamp, rate)."""


class SampleValueError(InputError):
    """A sample has the wrong shape or holds NaN / inf."""


class TimestampError(InputError):
    """A timestamp is not finite or not strictly after the previous one."""


class RateMismatchError(InputError):
    """The stream's sample rate differs from the rate the model was trained at."""


class DataError(SenseGenError, ValueError):
    """A dataset or recording file is missing, truncated or malformed."""


class ModelError(SenseGenError, ValueError):
    """A model file is missing, corrupt, tampered with, or does not fit its use."""


class ModelIntegrityError(ModelError):
    """A model file's bytes do not match the sha256 recorded in its metadata."""


class RuntimeUnavailableError(SenseGenError, ImportError):
    """No TFLite interpreter (ai-edge-litert or tflite-runtime) can be imported."""


class GeneratorFault(SenseGenError, RuntimeError):
    """The generator failed or produced non-finite values while sampling."""


class ExportError(SenseGenError, RuntimeError):
    """An exported model failed a check (parity, runtime version) and was not written."""
