"""Fetch the official HAPT archive (UCI id 341) and unpack its ``RawData`` accelerometer files."""
from __future__ import annotations

import io
import logging
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from sdk.errors import DataError

log = logging.getLogger(__name__)

HAPT_URL = (
    "https://archive.ics.uci.edu/static/public/341/"
    "smartphone+based+recognition+of+human+activities+and+postural+transitions.zip"
)
_WANTED = ("labels.txt", "activity_labels.txt")


def _wanted(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return "RawData/" in name and (base.startswith("acc_exp") or base in _WANTED) or base == "README.txt"


def _extract(zf: zipfile.ZipFile, dest: Path) -> int:
    """Extract RawData files (from this zip or from a zip nested inside it)."""
    names = zf.namelist()
    if not any("RawData/" in n for n in names):
        for inner in (n for n in names if n.lower().endswith(".zip")):
            with zipfile.ZipFile(io.BytesIO(zf.read(inner))) as izf:
                count = _extract(izf, dest)
                if count:
                    return count
        return 0
    count = 0
    for n in names:
        if n.endswith("/") or not _wanted(n):
            continue
        rel = n[n.index("RawData/") :] if "RawData/" in n else "README.txt"
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(n) as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        count += 1
    return count


def download_hapt(dest: str | Path, url: str = HAPT_URL, progress: bool = True, timeout: float = 60) -> Path:
    """Download ``url`` (a zip) and unpack ``RawData/acc_*.txt``, ``labels.txt``,
    ``activity_labels.txt`` and ``README.txt`` into ``dest``. Returns ``dest``.

    Raises:
        DataError: the download fails, or the archive holds no HAPT RawData.
    """
    from tqdm.auto import tqdm

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile() as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                total = int(resp.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc="HAPT", disable=not progress) as bar:
                    while chunk := resp.read(1 << 16):
                        tmp.write(chunk)
                        bar.update(len(chunk))
        except OSError as exc:
            raise DataError(f"download of {url} failed: {exc}") from None
        tmp.seek(0)
        try:
            with zipfile.ZipFile(tmp) as zf:
                count = _extract(zf, dest)
        except zipfile.BadZipFile:
            raise DataError(f"{url} did not return a zip archive") from None
    if not count or not (dest / "RawData" / "labels.txt").is_file():
        raise DataError(f"{url}: the archive holds no HAPT RawData/labels.txt")
    log.info("unpacked %d files into %s", count, dest)
    return dest
