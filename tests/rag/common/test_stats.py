"""The one percentile every benchmark reports, against examples worked by hand."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from rag.common.stats import percentile

pytestmark = pytest.mark.fast


@pytest.mark.parametrize(
    ("values", "percent", "expected"),
    [
        ([1, 2, 3, 4], 50, 2.5),  # position 1.5: halfway between 2 and 3
        ([1, 2, 3, 4], 25, 1.75),  # position 0.75
        ([1, 2, 3, 4], 0, 1),
        ([1, 2, 3, 4], 100, 4),
        ([15, 20, 35, 40, 50], 40, 29.0),  # position 1.6: 20 + 0.6 × 15
        (list(range(1, 11)), 99, 9.91),  # position 8.91: p99 of ten is not simply the maximum
        ([3, 1, 2], 50, 2),  # sorted first
        ([5, 5, 5], 99, 5),
    ],
)
def test_linear_interpolation_between_ranks(values: list[float], percent: float, expected: float) -> None:
    assert percentile(values, percent) == pytest.approx(expected)


@pytest.mark.parametrize("percent", [0, 50, 99, 100])
def test_one_sample_is_every_percentile_of_itself(percent: float) -> None:
    assert percentile([7.5], percent) == 7.5


def test_takes_any_iterable() -> None:
    assert percentile((x for x in [10.0, 20.0]), 50) == 15.0


def test_no_samples_have_no_percentile() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


@pytest.mark.parametrize("percent", [-1, 100.5])
def test_percent_outside_0_100_is_refused(percent: float) -> None:
    with pytest.raises(ValueError, match="0–100"):
        percentile([1.0, 2.0], percent)


def test_agrees_with_numpy_default() -> None:
    """benchmarks/retrieve.py used `np.percentile`: the same figures."""
    values = [12.1, 3.4, 8.8, 30.2, 7.7, 19.0, 4.4]
    for percent in (1, 10, 50, 90, 99):
        assert percentile(values, percent) == pytest.approx(float(np.percentile(values, percent)))


def test_agrees_with_statistics_quantiles_inclusive() -> None:
    """benchmarks/http.py used `statistics.quantiles(method="inclusive")`: the same figures."""
    values = [12.1, 3.4, 8.8, 30.2, 7.7, 19.0, 4.4]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    for percent in range(1, 100):
        assert percentile(values, percent) == pytest.approx(cuts[percent - 1])
