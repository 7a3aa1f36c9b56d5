"""Colours and sizes of the demo app (no Kivy import, so tests can check screenshots).

Colours are RGB in 0..1. The shading of replaced spans is drawn opaque, under the traces, so
its exact colour appears in a screenshot.
"""
from __future__ import annotations

BACKGROUND = (0.086, 0.094, 0.114)
PANEL = (0.125, 0.137, 0.165)
PLOT_BG = (0.051, 0.059, 0.075)
GRID = (0.22, 0.24, 0.28)
TEXT = (0.90, 0.91, 0.93)
TEXT_DIM = (0.60, 0.63, 0.68)
#: replaced spans in both plots
SHADE = (0.40, 0.26, 0.06)
#: x, y, z traces
AXES = ((0.95, 0.36, 0.36), (0.40, 0.85, 0.45), (0.38, 0.62, 1.00))
#: banner backgrounds per state
BANNER = {
    "idle": (0.25, 0.27, 0.31),
    "passing": (0.13, 0.45, 0.26),
    "replacing": (0.78, 0.45, 0.05),
    "error": (0.70, 0.15, 0.15),
}

DEFAULT_SIZE = (1280, 800)


def to_255(rgb) -> tuple[int, int, int]:
    """A colour as 8-bit integers, as it appears in a PNG."""
    return tuple(int(round(c * 255)) for c in rgb)
