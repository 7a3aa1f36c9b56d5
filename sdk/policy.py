"""The owner's privacy policy: which activities are sensitive, which activity to synthesise in
their place, and how eagerly the detector marks a segment (thresholds with hysteresis)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .activities import ACTIVITIES
from .errors import SenseGenError


class PolicyError(SenseGenError, ValueError):
    """A policy names an unknown activity or has inconsistent thresholds."""


def _activity(name: str, what: str) -> str:
    key = str(name).strip().upper()
    if key not in ACTIVITIES[1:]:
        raise PolicyError(f"unknown {what} activity {name!r}; choose from {', '.join(ACTIVITIES[1:])}")
    return key


@dataclass(frozen=True)
class Policy:
    """What to hide and how.

    A window of the stream is *sensitive* when the detector's summed probability of the
    ``sensitive`` activities is at least ``p_on``. A segment starts after ``enter_windows``
    consecutive sensitive windows and ends after ``exit_windows`` consecutive windows whose
    summed probability is below ``p_off`` (hysteresis, so segments do not flicker). The
    segment covers every window that triggered or sustained it, widened by ``pad_before_s``
    and ``pad_after_s`` seconds.

    Args:
        sensitive: activity names to hide, e.g. ``("WALKING_UPSTAIRS",)``.
        cover: the activity synthesised instead, e.g. ``"WALKING"``; must not be sensitive.
        p_on: probability at or above which a window counts towards entering a segment.
        p_off: probability below which a window counts towards leaving it (``p_off <= p_on``).
        enter_windows: consecutive windows ``>= p_on`` needed to enter.
        exit_windows: consecutive windows ``< p_off`` needed to leave.
        pad_before_s: extra seconds covered before the first triggering window.
        pad_after_s: extra seconds covered after the last sustaining window.

    Raises:
        PolicyError: an unknown activity, a cover that is also sensitive, or thresholds out
            of order.
    """

    sensitive: tuple[str, ...]
    cover: str
    p_on: float = 0.5
    p_off: float = 0.3
    enter_windows: int = 2
    exit_windows: int = 3
    pad_before_s: float = 0.5
    pad_after_s: float = 0.5
    notes: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        sensitive = (self.sensitive,) if isinstance(self.sensitive, str) else tuple(self.sensitive)
        if not sensitive:
            raise PolicyError("a policy needs at least one sensitive activity")
        sensitive = tuple(dict.fromkeys(_activity(a, "sensitive") for a in sensitive))
        cover = _activity(self.cover, "cover")
        if cover in sensitive:
            raise PolicyError(f"cover activity {cover} is itself sensitive; choose another cover")
        if not (0.0 <= self.p_off <= self.p_on <= 1.0):
            raise PolicyError(f"need 0 <= p_off <= p_on <= 1, got p_off={self.p_off}, p_on={self.p_on}")
        if int(self.enter_windows) < 1 or int(self.exit_windows) < 1:
            raise PolicyError(
                f"enter_windows and exit_windows must be >= 1, got {self.enter_windows}, {self.exit_windows}"
            )
        if not (self.pad_before_s >= 0 and self.pad_after_s >= 0):
            raise PolicyError(f"padding must be >= 0 s, got {self.pad_before_s}, {self.pad_after_s}")
        object.__setattr__(self, "sensitive", sensitive)
        object.__setattr__(self, "cover", cover)
        object.__setattr__(self, "enter_windows", int(self.enter_windows))
        object.__setattr__(self, "exit_windows", int(self.exit_windows))

    def sensitive_indices(self, activities: tuple[str, ...] = ACTIVITIES) -> list[int]:
        """Indices of the sensitive activities in ``activities`` (a detector's class list)."""
        missing = [a for a in self.sensitive if a not in activities]
        if missing:
            raise PolicyError(f"the detector does not know {missing}; it knows {', '.join(activities)}")
        return [activities.index(a) for a in self.sensitive]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sensitive"] = list(self.sensitive)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Policy":
        known = set(cls.__dataclass_fields__)
        extra = set(d) - known
        if extra:
            raise PolicyError(f"unknown policy fields {sorted(extra)}")
        return cls(**d)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> "Policy":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, TypeError) as exc:
            if isinstance(exc, PolicyError):
                raise
            raise PolicyError(f"{path}: not a readable policy file ({exc})") from None

    def describe(self) -> str:
        return f"hide {', '.join(self.sensitive)} as {self.cover}"
