"""Which TFLite interpreter runs the models: ``ai-edge-litert`` on desktops, ``tflite-runtime``
on phones (python-for-android's recipe). Never TensorFlow."""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .errors import ModelError, RuntimeUnavailableError
from .model_file import ModelFile, read_model

log = logging.getLogger(__name__)

#: Order in which runtimes are tried; ``SENSEGEN_RUNTIME`` may name one to force it.
RUNTIMES = ("ai_edge_litert", "tflite_runtime")


@dataclass(frozen=True)
class RuntimeInfo:
    name: str  # module name, e.g. "ai_edge_litert"
    version: str
    interpreter_class: type


def _load(name: str) -> RuntimeInfo:
    if name == "ai_edge_litert":
        from ai_edge_litert import interpreter as mod
        import ai_edge_litert as pkg
    elif name == "tflite_runtime":
        from tflite_runtime import interpreter as mod
        import tflite_runtime as pkg
    else:
        raise RuntimeUnavailableError(f"unknown runtime {name!r}; choose one of {', '.join(RUNTIMES)}")
    return RuntimeInfo(name, getattr(pkg, "__version__", "unknown"), mod.Interpreter)


def find_runtime(prefer: str | None = None) -> RuntimeInfo:
    """Import the first available TFLite interpreter.

    Raises:
        RuntimeUnavailableError: neither ai-edge-litert nor tflite-runtime is installed.
    """
    prefer = prefer or os.environ.get("SENSEGEN_RUNTIME") or None
    order = (prefer,) if prefer else RUNTIMES
    errors = []
    for name in order:
        try:
            info = _load(name)
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
            continue
        log.info("TFLite runtime: %s %s", info.name, info.version)
        return info
    raise RuntimeUnavailableError(
        "no TFLite interpreter available (pip install ai-edge-litert, or tflite-runtime on a phone): "
        + "; ".join(errors)
    )


#: Lines the TFLite runtime prints on stderr that say nothing to a user of the SDK.
_NATIVE_NOISE = ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",)


@contextlib.contextmanager
def _quiet_native_stderr():
    """Capture what native code writes on file descriptor 2 while loading a model (LiteRT
    prints ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`` there, bypassing
    Python), then write back everything except the lines in ``_NATIVE_NOISE``."""
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (some app launchers): nothing to quiet
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode(errors="replace")
        rest = "".join(line for line in text.splitlines(keepends=True) if line.strip() not in _NATIVE_NOISE)
        if rest:
            os.write(2, rest.encode())


def load_interpreter(flatbuffer: bytes, path, runtime: str | None = None, num_threads: int = 1):
    """Load ``flatbuffer`` into the available TFLite interpreter.

    Returns:
        ``(RuntimeInfo, interpreter, signature)`` where ``signature`` maps ``"inputs"`` and
        ``"outputs"`` names to tensor indices (bind by name: file order is not declared order).

    Raises:
        RuntimeUnavailableError: no interpreter installed.
        ModelError: the interpreter cannot load the model, or it has no signature.
    """
    info = find_runtime(runtime)
    try:
        with _quiet_native_stderr():
            interp = info.interpreter_class(model_content=flatbuffer, num_threads=num_threads)
            interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"{path}: the interpreter cannot load the model ({exc})") from None
    sigs = interp._get_full_signature_list()
    if not sigs:
        raise ModelError(f"{path}: the model has no signature")
    return info, interp, next(iter(sigs.values()))


@dataclass(frozen=True)
class LoadedModel:
    """A verified model file loaded into an interpreter (see ``load_model``)."""

    file: ModelFile
    runtime: RuntimeInfo
    interpreter: Any
    signature: dict  # {"inputs": {name: index}, "outputs": {name: index}}


def load_model(
    path: str | Path,
    expect_format: str,
    read_metadata: Callable[[dict], None],
    runtime: str | None = None,
    num_threads: int = 1,
) -> LoadedModel:
    """The one loader of SDK model files (generator and detector).

    Reads and verifies the file (format, ``format_version``, sha256), hands its metadata to
    ``read_metadata`` (which raises ``KeyError``/``TypeError``/``ValueError`` on a missing or
    malformed field), then loads the flatbuffer into the interpreter.

    Raises:
        ModelError / ModelIntegrityError: missing, corrupt, tampered, newer-format or
            incomplete file; the interpreter cannot load it.
        RuntimeUnavailableError: no TFLite interpreter installed.
    """
    model = read_model(path, expect_format=expect_format)
    try:
        read_metadata(model.metadata)
    except ModelError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelError(f"{path}: {expect_format} metadata incomplete or malformed ({exc!r})") from None
    info, interp, sig = load_interpreter(model.flatbuffer, path, runtime, num_threads)
    return LoadedModel(model, info, interp, sig)
