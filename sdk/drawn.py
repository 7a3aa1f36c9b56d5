"""Streams drawn ahead in pieces (a stride, a chunk of stillness) and served sample by sample."""
from __future__ import annotations

import numpy as np


class DrawnStream:
    """Serves ``take(n)`` / ``next()`` (samples in g) from ``_ahead``, which a subclass refills
    in ``_draw()`` whenever it runs out (``_ahead``: (m, 3), ``_ahead_i``: next row)."""

    def __init__(self) -> None:
        self._ahead = np.empty((0, 3))
        self._ahead_i = 0

    def _draw(self) -> None:
        raise NotImplementedError

    def take(self, n: int) -> np.ndarray:
        """Up to ``n`` (at least one) next samples in g, (m, 3)."""
        while self._ahead_i >= len(self._ahead):
            self._draw()
        i = self._ahead_i
        self._ahead_i = j = min(len(self._ahead), i + max(1, int(n)))
        return self._ahead[i:j]

    def next(self) -> np.ndarray:
        """The next sample in g."""
        return self.take(1)[0]
