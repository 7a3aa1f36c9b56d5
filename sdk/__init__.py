"""SenseGen Privacy SDK (phone side): numpy + a TFLite interpreter, never TensorFlow."""
from .activities import ACTIVITIES
from .errors import (
    DataError,
    GeneratorFault,
    InputError,
    ModelError,
    ModelIntegrityError,
    RateMismatchError,
    RuntimeUnavailableError,
    SampleValueError,
    SenseGenError,
    TimestampError,
)
from .detector import ActivityDetector, DetectorSource
from .filter import FilterOptions, FilterStatus, PrivacyFilter, ReleasedBlock, filter_recording
from .generator import Generator, SyntheticStream, bundled_model_path
from .policy import Policy, PolicyError
from .sensitivity import Intervals, ManualSwitch, PrivateSpans, SensitivitySource, check_source
from .mdn import SamplingOptions
from .recording import Recording, read_csv, read_hapt_raw, read_recording, write_csv
from .runtime import find_runtime

__all__ = [
    "ACTIVITIES", "DataError", "GeneratorFault", "InputError", "ModelError", "ModelIntegrityError",
    "RateMismatchError", "RuntimeUnavailableError", "SampleValueError", "SenseGenError",
    "TimestampError", "Generator", "SyntheticStream", "bundled_model_path", "SamplingOptions", "Recording",
    "read_csv", "read_hapt_raw", "read_recording", "write_csv", "find_runtime",
    "ActivityDetector", "DetectorSource", "FilterOptions", "FilterStatus", "PrivacyFilter", "ReleasedBlock",
    "filter_recording", "Policy", "PolicyError", "ManualSwitch", "PrivateSpans", "SensitivitySource",
    "Intervals", "check_source",
]
