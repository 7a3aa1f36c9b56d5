"""SenseGen Privacy SDK (phone side): numpy + a TFLite interpreter, never TensorFlow.

``from sdk import ...`` is the documented way in; the names below are the whole public
surface, one per concept. Everything else (the finer error types, ``find_runtime``,
``bundled_model_path``, ``SamplingOptions``, ``SyntheticStream``, the readers of each file
format...) stays importable from its submodule (``sdk.errors``, ``sdk.runtime``,
``sdk.generator``, ``sdk.mdn``, ``sdk.recording``...).
"""
from .activities import ACTIVITIES
from .cover_bank import CoverBankOptions
from .decoys import DecoyOptions
from .detector import ActivityDetector, DetectorSource
from .errors import DataError, InputError, ModelError, SenseGenError
from .filter import FilterOptions, PrivacyFilter, ReleasedBlock, filter_recording
from .generator import Generator
from .policy import Policy
from .recording import Recording, read_recording, sample_recording_path, write_csv
from .resample import Resampler, resample
from .sensitivity import ManualSwitch, PrivateSpans, SensitivitySource

__all__ = [
    # the filter
    "PrivacyFilter", "FilterOptions", "ReleasedBlock", "filter_recording", "CoverBankOptions", "DecoyOptions",
    # what makes a sample sensitive
    "SensitivitySource", "PrivateSpans", "ManualSwitch", "DetectorSource", "Policy", "ACTIVITIES",
    # the models
    "Generator", "ActivityDetector",
    # recordings and sensor streams
    "Recording", "read_recording", "write_csv", "sample_recording_path", "Resampler", "resample",
    # errors: every error subclasses SenseGenError and a built-in (finer types in sdk.errors)
    "SenseGenError", "InputError", "DataError", "ModelError",
]
