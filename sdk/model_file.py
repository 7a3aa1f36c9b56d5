"""One self-describing model file: the TFLite flatbuffer followed by a zip holding
``metadata.json`` (as TFLite metadata writers pack associated files) and, optionally, further
members (e.g. a generator's block variant, another flatbuffer). The metadata records the size
and sha256 of the flatbuffer and of every member, checked on every load."""
from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ModelError, ModelIntegrityError

METADATA_NAME = "metadata.json"
#: the newest metadata layout this SDK reads; exports write it, newer files are refused
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelFile:
    flatbuffer: bytes
    metadata: dict
    path: Path | None = None
    members: dict[str, bytes] = field(default_factory=dict)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pack_model(flatbuffer: bytes, metadata: dict, members: dict[str, bytes] | None = None) -> bytes:
    """Return flatbuffer + zip(metadata.json, members) with ``sha256`` and ``flatbuffer_size``
    (and, when ``members`` are given, ``members``: name -> sha256 and size) filled in."""
    if flatbuffer[4:8] != b"TFL3":
        raise ModelError("not a TFLite flatbuffer (missing TFL3 identifier)")
    members = dict(members or {})
    if METADATA_NAME in members:
        raise ModelError(f"a member may not be called {METADATA_NAME}")
    meta = dict(metadata, sha256=sha256(flatbuffer), flatbuffer_size=len(flatbuffer))
    if members:
        meta["members"] = {name: {"sha256": sha256(data), "size": len(data)} for name, data in members.items()}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(METADATA_NAME, json.dumps(meta, indent=2, sort_keys=True))
        for name, data in members.items():
            zf.writestr(name, data)
    return flatbuffer + buf.getvalue()


def read_model(path: str | Path, expect_format: str | None = None) -> ModelFile:
    """Read and verify a packed model file.

    Raises:
        ModelError: missing, truncated or not a packed TFLite model, of another format, or
            of a newer ``format_version`` than ``FORMAT_VERSION``.
        ModelIntegrityError: the flatbuffer or a member does not match the recorded sha256, or
            the packed metadata itself is damaged.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError(f"{path}: not a TFLite model file")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            meta = json.loads(zf.read(METADATA_NAME))
            listed = meta.get("members") or {}
            members = _read_members(zf, listed, path)
    except ModelError:
        raise
    except zlib.error as exc:  # the metadata's compressed bytes are damaged (a truncated file fails below)
        raise ModelIntegrityError(f"{path}: the packed metadata is corrupt ({exc}), so the sha256 of the model cannot be checked (file corrupt or tampered with)") from None
    except zipfile.BadZipFile as exc:
        if str(exc).startswith("Bad CRC-32"):
            raise ModelIntegrityError(f"{path}: the packed metadata fails its CRC, so the sha256 of the model cannot be checked (file corrupt or tampered with)") from None
        raise ModelError(f"{path}: no readable SenseGen metadata inside the file ({exc}); truncated or not exported by 'sensegen export'") from None
    except (KeyError, ValueError, EOFError) as exc:
        raise ModelError(f"{path}: no readable SenseGen metadata inside the file ({exc}); truncated or not exported by 'sensegen export'") from None
    size = meta.get("flatbuffer_size")
    if not isinstance(size, int) or not 8 <= size <= len(data):
        raise ModelError(f"{path}: metadata has an invalid flatbuffer_size {size!r}")
    flat = data[:size]
    if sha256(flat) != meta.get("sha256"):
        raise ModelIntegrityError(f"{path}: sha256 of the model does not match its metadata (file corrupt or tampered with)")
    if expect_format and meta.get("format") != expect_format:
        raise ModelError(f"{path}: is a {meta.get('format')!r} model, expected {expect_format!r}")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelError(f"{path}: metadata has no valid format_version ({version!r}); not exported by 'sensegen export'")
    if version > FORMAT_VERSION:
        raise ModelError(
            f"{path}: model format version {version} is newer than this SDK reads ({FORMAT_VERSION}); upgrade sensegen-privacy"
        )
    return ModelFile(flat, meta, path, members)


def _read_members(zf: zipfile.ZipFile, listed, path) -> dict[str, bytes]:
    """The listed members present in the zip, each checked against its recorded sha256 (a
    listed member that is absent is left out: whoever needs it reports it)."""
    if not isinstance(listed, dict):
        raise ModelError(f"{path}: metadata 'members' must map names to sha256 and size")
    names = set(zf.namelist())
    out = {}
    for name, entry in listed.items():
        if name not in names:
            continue
        try:
            data = zf.read(name)
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error):  # corrupt compressed bytes / CRC
            data = None
        if data is None or sha256(data) != (entry.get("sha256") if isinstance(entry, dict) else None):
            raise ModelIntegrityError(f"{path}: sha256 of member {name} does not match its metadata (file corrupt or tampered with)")
        out[name] = data
    return out


# --- reading the flatbuffer's own metadata (min_runtime_version) without TensorFlow -----------

def _u32(b: bytes, o: int) -> int:
    return struct.unpack_from("<I", b, o)[0]


def _field(b: bytes, table: int, index: int) -> int | None:
    vtable = table - struct.unpack_from("<i", b, table)[0]
    vt_size = struct.unpack_from("<H", b, vtable)[0]
    slot = 4 + 2 * index
    if slot >= vt_size:
        return None
    off = struct.unpack_from("<H", b, vtable + slot)[0]
    return table + off if off else None


def _deref(b: bytes, pos: int) -> int:
    return pos + _u32(b, pos)


def _vector(b: bytes, pos: int) -> tuple[int, int]:
    vec = _deref(b, pos)
    return vec + 4, _u32(b, vec)


def tflite_metadata_entries(flatbuffer: bytes) -> dict[str, bytes]:
    """The ``Model.metadata`` entries (name -> buffer bytes) of a TFLite flatbuffer."""
    b = flatbuffer
    try:
        model = _u32(b, 0)
        meta_pos, buffers_pos = _field(b, model, 6), _field(b, model, 4)
        if meta_pos is None or buffers_pos is None:
            return {}
        bstart, bcount = _vector(b, buffers_pos)
        start, count = _vector(b, meta_pos)
        out = {}
        for i in range(count):
            entry = _deref(b, start + 4 * i)
            name_pos, buf_pos = _field(b, entry, 0), _field(b, entry, 1)
            nstart, nlen = _vector(b, name_pos)
            name = b[nstart : nstart + nlen].decode()
            buf_index = _u32(b, buf_pos) if buf_pos is not None else 0
            if buf_index >= bcount:
                continue
            buffer = _deref(b, bstart + 4 * buf_index)
            data_pos = _field(b, buffer, 0)
            if data_pos is None:
                out[name] = b""
                continue
            dstart, dlen = _vector(b, data_pos)
            out[name] = bytes(b[dstart : dstart + dlen])
        return out
    except (struct.error, UnicodeDecodeError, TypeError) as exc:
        raise ModelError(f"malformed TFLite flatbuffer ({exc})") from None


def min_runtime_version(flatbuffer: bytes) -> str:
    """The ``min_runtime_version`` the converter recorded, e.g. ``"2.3.0"``."""
    raw = tflite_metadata_entries(flatbuffer).get("min_runtime_version")
    if raw is None:
        raise ModelError("the TFLite file records no min_runtime_version")
    return raw.split(b"\0", 1)[0].decode()


def version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split(".") if p.isdigit())
