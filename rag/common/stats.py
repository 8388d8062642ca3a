"""Summary statistics that every benchmark reports the same way."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], percent: float) -> float:
    """The `percent`-th percentile (0–100) of `values`, by linear interpolation between the two
    nearest ranks: numpy's default (`np.percentile`, Hyndman–Fan type 7) and `statistics.quantiles`
    with `method="inclusive"`, so the figures already quoted from those stay comparable.

    Interpolation rather than nearest rank because a benchmark's p99 usually has fewer than 100
    samples: nearest rank makes it the maximum, one outlier; interpolation moves smoothly with the
    data. The position is `(n - 1) * percent / 100` in the sorted values: p0 is the minimum, p100
    the maximum, one sample is every percentile of itself. No samples have no percentile, so an
    empty input raises ValueError (the caller decides what to show), as does a percent outside
    0–100.
    """
    if not 0 <= percent <= 100:
        raise ValueError(f"percent must be within 0–100, got {percent}")
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values: an empty sample has no percentile")
    position = (len(ordered) - 1) * percent / 100
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)
