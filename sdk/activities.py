"""Activity names shared by the generator, the detector and the policy (HAPT's six basic ones)."""
from __future__ import annotations

from .errors import ModelError

#: Index 0 collects unlabelled samples and the short postural transitions (HAPT 7-12).
ACTIVITIES: tuple[str, ...] = (
    "OTHER",
    "WALKING",
    "WALKING_UPSTAIRS",
    "WALKING_DOWNSTAIRS",
    "SITTING",
    "STANDING",
    "LAYING",
)


def activity_index(name: str, activities: tuple[str, ...] = ACTIVITIES) -> int:
    """Index of an activity name (case-insensitive)."""
    key = name.strip().upper()
    if key not in activities:
        raise ModelError(f"unknown activity {name!r}; known: {', '.join(activities)}")
    return activities.index(key)
