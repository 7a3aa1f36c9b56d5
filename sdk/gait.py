"""The gait clock: a step phase read from real walking and a phase clock that drives the
generator.

A generator fed back its own samples loses the rhythm of a gait and wanders (DESIGN.md:
weak periodicity and slow drift are what give generated walking away). The generator is
therefore conditioned on a *clock*: ``(sin psi, cos psi)`` of the step phase ``psi`` (a
*stride clock* adds ``(sin psi/2, cos psi/2)``: which of a stride's two steps). In
training ``psi`` is read from the real signal (:func:`step_phase`); on the phone it runs at
the owner's own cadence, measured on their recent released walking (:func:`cadence`), with
the owner's own step-to-step jitter (:class:`PhaseClock`). Numpy only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: activities with a step rhythm; the clock is zero for every other condition
DYNAMIC = ("WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS")
#: band of plausible step frequencies (Hz) in which the phase is read
STEP_BAND_HZ = (1.0, 3.0)
#: width of the clock part of the generator's condition input: (sin psi, cos psi)
CLOCK_WIDTH = 2
#: width of a stride clock: (sin psi, cos psi, sin psi/2, cos psi/2), the half phase telling
#: the two steps of a stride apart (left/right alternation)
STRIDE_CLOCK_WIDTH = 4
#: rows of the phase clock solved in one closed-form piece (a^-t stays well within float range)
_PIECE = 256


def step_phase(xyz: np.ndarray, rate_hz: float = 50.0, band: tuple[float, float] = STEP_BAND_HZ) -> tuple[np.ndarray, np.ndarray]:
    """Step phase and its amplitude along a recording.

    The magnitude of the acceleration (orientation-free), band-passed to ``band`` and made
    analytic in one FFT (a Hilbert transform restricted to the band).

    Args:
        xyz: (n, 3) samples in g.

    Returns:
        ``(psi, amplitude)``, each (n,): phase in radians and envelope in g.
    """
    x = np.asarray(xyz, np.float64)
    mag = np.sqrt((x * x).sum(axis=1))
    n = len(mag)
    if n < 4:
        return np.zeros(n), np.zeros(n)
    spec = np.fft.fft(mag - mag.mean())
    f = np.fft.fftfreq(n, 1.0 / rate_hz)
    analytic = np.fft.ifft(spec * np.where((f >= band[0]) & (f <= band[1]), 2.0, 0.0))
    return np.angle(analytic), np.abs(analytic)


@dataclass(frozen=True)
class Cadence:
    """A walker's step frequency and its relative step-to-step jitter."""

    step_hz: float
    jitter: float  # relative std of the instantaneous step frequency

    def to_dict(self) -> dict:
        return {"step_hz": self.step_hz, "jitter": self.jitter}


def cadence(xyz: np.ndarray, rate_hz: float = 50.0) -> Cadence | None:
    """The step frequency (median instantaneous frequency of :func:`step_phase`) and its
    relative jitter (std of that frequency smoothed over half a second, over the median),
    or ``None`` when ``xyz`` is shorter than 2 s."""
    if len(xyz) < 2 * rate_hz:
        return None
    psi, _ = step_phase(xyz, rate_hz)
    inst = np.diff(np.unwrap(psi)) * rate_hz / (2 * math.pi)
    k = max(1, int(rate_hz // 2))
    smooth = np.convolve(inst, np.ones(k) / k, mode="valid")
    lo, hi = STEP_BAND_HZ
    f0 = float(np.clip(np.median(smooth), lo, hi))
    jitter = float(np.clip(np.std(smooth) / f0, 0.0, 0.25))
    return Cadence(f0, jitter)


def phase_at_end(xyz: np.ndarray, step_hz: float, rate_hz: float = 50.0) -> float:
    """Step phase at the last row of ``xyz``, by a least-squares fit of a sinusoid at
    ``step_hz`` to the magnitude (the same phase convention as :func:`step_phase`: the
    magnitude's fundamental is ``A cos psi``)."""
    x = np.asarray(xyz, np.float64)
    mag = np.sqrt((x * x).sum(axis=1))
    w = 2 * math.pi * step_hz / rate_hz * (np.arange(len(mag)) - (len(mag) - 1))  # 0 at the end
    basis = np.stack([np.cos(w), -np.sin(w), np.ones_like(w)], axis=1)
    (a, b, _), *_ = np.linalg.lstsq(basis, mag, rcond=None)
    return float(math.atan2(b, a))  # A cos(w + psi) = A cos psi cos w - A sin psi sin w


class PhaseClock:
    """A step-phase clock at a given cadence: the frequency wanders as an Ornstein–Uhlenbeck
    process in log frequency (std ``cadence.jitter``, correlation time ``tau_s``), from a
    seeded random generator.

    Args:
        cadence: step frequency and jitter.
        rate_hz: samples per second.
        seed: anything ``numpy.random.default_rng`` takes.
        psi0: phase of the first row.
        tau_s: correlation time of the frequency wander.
    """

    def __init__(self, cadence: Cadence, rate_hz: float, seed, psi0: float = 0.0, tau_s: float = 1.0, width: int = CLOCK_WIDTH):
        if width not in (CLOCK_WIDTH, STRIDE_CLOCK_WIDTH):
            raise ValueError(f"clock width must be {CLOCK_WIDTH} or {STRIDE_CLOCK_WIDTH}, got {width}")
        self.width = width
        self.cadence = cadence
        self._rng = np.random.default_rng(seed)
        self._dpsi = 2 * math.pi * cadence.step_hz / rate_hz
        self._a = math.exp(-1.0 / (rate_hz * tau_s))
        self._b = math.sqrt(1 - self._a * self._a) * cadence.jitter
        self._psi = float(psi0)
        self._y = 0.0
        t = np.arange(1, _PIECE + 1)
        self._pow, self._inv_pow = self._a**t, self._a ** -t.astype(np.float64)

    def rows(self, n: int) -> np.ndarray:
        """The next ``n`` clock rows ``(sin psi, cos psi)`` (and ``sin psi/2, cos psi/2`` for
        a stride clock), (n, width) float32.

        The recurrence (log frequency ``y <- a y + b e``, phase ``psi <- psi + d exp(y)``) is
        solved in closed form over pieces of at most ``_PIECE`` rows, so a call costs a few
        numpy operations instead of a Python loop per row; drawing rows in one call or in
        several gives the same values up to rounding."""
        out = np.empty((n, self.width), np.float32)
        turn = (4 if self.width == STRIDE_CLOCK_WIDTH else 2) * math.pi
        for i in range(0, n, _PIECE):
            m = min(_PIECE, n - i)
            e = self._rng.standard_normal(m)
            # y_t = a^t (y_0 + b sum_{s<=t} a^-s e_s), t = 1..m; the phase before each update
            y = self._pow[:m] * (self._y + self._b * np.cumsum(e * self._inv_pow[:m]))
            steps = self._dpsi * np.exp(y)
            psi = np.empty(m)
            psi[0] = self._psi
            np.cumsum(steps[:-1], out=psi[1:])
            psi[1:] += self._psi
            rot = np.exp(1j * psi)
            out[i : i + m, 0], out[i : i + m, 1] = rot.imag, rot.real
            if self.width == STRIDE_CLOCK_WIDTH:
                half = np.exp(0.5j * psi)
                out[i : i + m, 2], out[i : i + m, 3] = half.imag, half.real
            self._psi, self._y = float((psi[-1] + steps[-1]) % turn), float(y[-1])
        return out


def clock_rows(psi: np.ndarray, width: int = CLOCK_WIDTH) -> np.ndarray:
    """``(sin psi, cos psi)`` rows (n, 2) float32, the clock as training reads it from data;
    ``width`` 4 adds the half phase ``(sin psi/2, cos psi/2)`` of the *unwrapped* ``psi``
    (which step of a stride; its parity is arbitrary but holds along a recording)."""
    psi = np.unwrap(np.asarray(psi, np.float64))
    cols = [np.sin(psi), np.cos(psi)] + ([np.sin(0.5 * psi), np.cos(0.5 * psi)] if width == STRIDE_CLOCK_WIDTH else [])
    return np.stack(cols, axis=1).astype(np.float32)
