"""Step time: the summary of samples by hand, and the host timer around known sleeps."""

from __future__ import annotations

import math
import time

import pytest

from mobius_core.measure.results import TimeResult
from mobius_core.measure.timing import StepTimer


def test_time_summary_by_hand() -> None:
    result = TimeResult.from_samples([5.0, 1.0, 4.0, 2.0, 3.0], "test")
    assert (result.median_ms, result.q1_ms, result.q3_ms, result.iqr_ms) == (3.0, 2.0, 4.0, 2.0)
    assert (result.min_ms, result.max_ms) == (1.0, 5.0)
    assert result.cv == pytest.approx(math.sqrt(2) / 3)  # population sd sqrt(2), mean 3
    with pytest.raises(ValueError, match=r"^time: no samples$"):
        TimeResult.from_samples([], "test")


def test_host_timer_times_each_tracked_step() -> None:
    timer = StepTimer("cpu")
    for seconds in (0.02, 0.06):
        with timer.track():
            time.sleep(seconds)
    first, second = timer.samples_ms
    assert 20 <= first < 1000 and 60 <= second < 1000  # a sleep lasts at least what was asked
    result = timer.result()
    assert result.median_ms == pytest.approx((first + second) / 2)
    assert result.method == timer.method and "host" in timer.method


def test_a_failed_step_gives_no_sample() -> None:
    timer = StepTimer("cpu")
    with pytest.raises(RuntimeError), timer.track():
        raise RuntimeError("step failed")
    assert timer.samples_ms == []
    assert timer.result().median_ms is None
    assert timer.result().absent == {"median_ms": "no step was timed"}
