"""The Kivy demo in a real window (SDL's offscreen driver): it replays a real HAPT file
through the bundled models and saves a screenshot, which is checked pixel by pixel."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from android_demo import theme

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.app


def run_demo(tmp_path: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["SDL_VIDEODRIVER"] = "offscreen"  # works without X; see android_demo/README.md
    env["KIVY_HOME"] = str(tmp_path / "kivy_home")  # no writes to ~/.kivy
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # the app's data folder (its cover bank) under tmp_path
    (tmp_path / "config").mkdir(exist_ok=True)
    env.pop("DISPLAY", None)
    return subprocess.run(
        [sys.executable, "-m", "android_demo", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def load_png(path: Path) -> np.ndarray:
    from PIL import Image  # Pillow comes with kivy[base]

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def colour_mask(img: np.ndarray, rgb, tol: int = 3) -> np.ndarray:
    return (np.abs(img.astype(int) - np.array(theme.to_255(rgb))) <= tol).all(axis=2)


def test_screenshot_shows_both_plots_with_shaded_span_when_replaying_hapt(tmp_path, hapt_file):
    png = tmp_path / "demo.png"
    # user 3 walking from 175 s; private 2-5 s of the replay; release delay 3 s, so after
    # 10 s the released plot covers 0-7 s and the replaced span is fully released
    proc = run_demo(tmp_path, "--replay", str(hapt_file), "--start", "175", "--screenshot", str(png),
                    "--duration", "10", "--private-span", "2:5")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f'File "{ROOT / "android_demo"}' not in proc.stderr  # no traceback through the app
    assert png.is_file()
    img = load_png(png)
    h, w, _ = img.shape
    assert (w, h) == theme.DEFAULT_SIZE
    # the cover bank (the owner's released walking) is kept in the app's data folder for the next run
    assert (tmp_path / "config" / "demo" / "cover_bank" / "cover_bank_walking.npz").is_file()

    # not blank: many colours, real contrast
    colours = np.unique(img.reshape(-1, 3), axis=0)
    assert len(colours) > 500, f"only {len(colours)} colours"
    assert img.std() > 20

    # the shading of the replaced span, in the raw plot (upper half) and the released plot
    # (lower half); it spans ~3 s of a 10 s axis, so ~30% of each plot's width
    shade = colour_mask(img, theme.SHADE)
    upper, lower = shade[: h // 2], shade[h // 2 :]
    assert upper.mean() > 0.05 and lower.mean() > 0.05, (upper.mean(), lower.mean())
    cols = np.flatnonzero(lower.any(axis=0))
    assert 150 < cols.max() - cols.min() < 0.6 * w  # one band, not the whole plot

    # each plot draws its three traces
    for half in (img[: h // 2], img[h // 2 :]):
        for rgb in theme.AXES:
            assert colour_mask(half, rgb, tol=12).sum() > 200

    # the banner is drawn in one of the state colours
    top = img[5:40, : w // 4]
    assert any(colour_mask(top, c).mean() > 0.5 for c in theme.BANNER.values())


def test_unavailable_sensor_is_reported_on_screen_without_crashing(tmp_path):
    png = tmp_path / "nosensor.png"
    # no --replay: the phone sensor is tried, which plyer cannot provide on a desktop
    proc = run_demo(tmp_path, "--screenshot", str(png), "--duration", "1", "--size", "720x1280")
    assert proc.returncode == 3, proc.stderr[-3000:]  # screenshot saved, nothing streamed
    assert f'File "{ROOT / "android_demo"}' not in proc.stderr  # no traceback through the app
    img = load_png(png)
    assert img.shape[:2] == (1280, 720)
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50
    assert "unavailable" in proc.stderr.lower() or "did not stream" in proc.stderr


def test_cli_refuses_bad_span_with_usage_error(tmp_path):
    proc = run_demo(tmp_path, "--private-span", "5:2", timeout=60)
    assert proc.returncode == 2
    assert "need 0 <= START <= END" in proc.stderr
