"""One term of the analytical peak (suite/peak_model.py): bytes, the moments of a step they
exist at, where they live. Its own module so that strategies (suite/strategies/) can name
the terms they add (their `peak_terms` hook) without importing the peak model, which imports
the catalogue."""

from __future__ import annotations

from dataclasses import dataclass

PHASES = ("forward", "backward", "step")
# The moments a phase's peak can fall on: the forward's end; backward's start (activations and
# the loss's gradients), early in backward (the reduce bucket allocated, activations not yet
# freed) and its end (every gradient, the bucket full); the optimizer's step.
POINTS = {"forward": ("forward",), "backward": ("bwd_start", "bwd_early", "bwd_end"),
          "step": ("step",)}
ALL = ("forward", "bwd_start", "bwd_early", "bwd_end", "step")
SAVED = ("forward", "bwd_start", "bwd_early")  # what the forward saves: until backward uses it
PLACES = ("device", "host", "nvme")


@dataclass(frozen=True, kw_only=True)
class PeakTerm:
    name: str
    nbytes: int
    points: tuple[str, ...] = ALL
    place: str = "device"
    category: str = "other"  # the measured breakdown's category it corresponds to
    note: str = ""

    def __post_init__(self) -> None:
        if self.place not in PLACES:
            raise ValueError(f"place {self.place!r} is not one of {PLACES}")
        if bad := set(self.points) - set(ALL):
            raise ValueError(f"points {sorted(bad)} are not among {ALL}")
