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
    StreamGapWarning,
    TimestampError,
)
from .generator import Generator, SyntheticStream, bundled_model_path
from .mdn import SamplingOptions
from .recording import Recording, read_csv, read_hapt_raw, read_recording, write_csv
from .runtime import find_runtime

__all__ = [
    "ACTIVITIES", "DataError", "GeneratorFault", "InputError", "ModelError", "ModelIntegrityError",
    "RateMismatchError", "RuntimeUnavailableError", "SampleValueError", "SenseGenError", "StreamGapWarning",
    "TimestampError", "Generator", "SyntheticStream", "bundled_model_path", "SamplingOptions", "Recording",
    "read_csv", "read_hapt_raw", "read_recording", "write_csv", "find_runtime",
]
