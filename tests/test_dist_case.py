"""run/dist_case.py on rank 0 of a pretend 2-rank run: the world-size-1 reference, the
scaling efficiency and each rank's figures gathered to rank 0.

The process group is real but of one rank (gloo, in this process); rank 1 is a stand-in:
`gather` adds its value beside this rank's, `max_over_ranks` takes the larger of the two.
The variant is the one-weight `Scale` (tests/fakes.py), whose steps take microseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from fakes import Scale, one_rank_group

from mobius_core.measure.results import DistributedResult
from mobius_core.report.record import Case, Record
from mobius_core.run import dist_case, distributed
from mobius_core.run.distributed import World
from mobius_core.run.guard import Failure

CASE = Case("tiny", 1, 4, 64, "fp32", "cpu", 3, 1, mode="ddp", world_size=2)
RANK0 = World(rank=0, size=2, local_rank=0, backend="gloo", timeout_s=30.0)
RANK1_ROUNDS_MS = [125.0, 0.0, 125.0]  # rank 1's time in each timed round
RANK1_MEDIAN_MS, RANK1_PEAK, RANK0_PEAK = 125.0, 3000, 1000


@pytest.fixture(scope="module")
def group() -> Iterator[None]:
    with one_rank_group():
        yield


class Rank1:
    """Rank 1's side of each collective rank 0 runs."""

    def __init__(self, build_failure: Failure | None = None) -> None:
        self.build_failure, self.rounds = build_failure, iter(RANK1_ROUNDS_MS)

    def gather(self, value: object) -> list[object]:
        if value is None or isinstance(value, Failure):  # did the build fail?
            return [value, self.build_failure]
        return [value, (RANK1_MEDIAN_MS, RANK1_PEAK)]  # (median ms, peak bytes)

    def max_over_ranks(self, value: float, device: str) -> float:
        return max(value, next(self.rounds))


def clock_of_100_ms_steps() -> SimpleNamespace:
    """A perf_counter that advances 0.1 s at each reading: every timed step takes 100 ms."""
    readings = iter(range(1000))
    return SimpleNamespace(perf_counter=lambda: 0.1 * next(readings))


@contextmanager
def rank1_beside(other: Rank1) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(distributed, "gather", other.gather)
        patch.setattr(distributed, "max_over_ranks", other.max_over_ranks)
        patch.setattr(dist_case, "time", clock_of_100_ms_steps())  # the world-1 clock
        patch.setattr(dist_case, "_peak", lambda *args: RANK0_PEAK)
        yield


def build_into(built: list[Case]) -> Callable[[Case, str], Scale]:
    def build(case: Case, variant: str) -> Scale:
        built.append(case)
        return Scale()

    return build


@pytest.fixture(scope="module")
def measured(group: None) -> tuple[Record, list[Case]]:
    """mobius measured once on rank 0 (its untimed passes take seconds), and the cases built."""
    built: list[Case] = []
    with rank1_beside(Rank1()):
        (record,) = dist_case.measure_case(CASE, ["mobius"], RANK0, build_into(built))
    return record, built


def test_world_one_reference_is_eager_alone_timed_over_the_rounds(measured) -> None:
    record, built = measured
    assert [(c.mode, c.world_size) for c in built] == [("eager", 1), ("ddp", 2)]
    assert record.distributed.world1_samples_ms == pytest.approx([100.0] * 3)  # rounds: 3
    assert record.distributed.world1_median_ms == pytest.approx(100.0)


def test_each_round_is_the_slowest_rank_and_scaling_is_world_one_over_it(measured) -> None:
    """Rounds: rank 1 took 125, 0 and 125 ms, rank 0 microseconds; so 125, rank 0's, 125.
    Median 125 ms; world size 1 took 100 ms: efficiency 100 / 125 = 0.8."""
    record, _ = measured
    first, middle, last = record.time.samples_ms
    assert (first, last) == (125.0, 125.0)
    assert 0.0 < middle < 125.0  # rank 0's own step: the larger of it and rank 1's 0 ms
    assert record.time.median_ms == pytest.approx(125.0)
    assert record.distributed.scaling_efficiency == pytest.approx(0.8)


def test_every_rank_figures_come_home_to_rank_0(measured) -> None:
    result = measured[0].distributed
    assert result.world_size == 2
    assert result.rank_median_ms[1] == RANK1_MEDIAN_MS
    assert 0.0 < result.rank_median_ms[0] < RANK1_MEDIAN_MS  # rank 0's own, microseconds
    assert result.rank_peak_bytes == [RANK0_PEAK, RANK1_PEAK]
    assert result.rank_peak_max == RANK1_PEAK
    assert result.note.startswith("gloo on CPU: a correctness check")


def test_a_failed_world_one_reference_leaves_scaling_absent_with_why(group: None) -> None:
    def fails(case: Case, variant: str) -> Scale:
        raise RuntimeError("no memory alone")

    why = dist_case._world1(CASE, "mobius", RANK0, fails)
    assert why == "world size 1 failed: RuntimeError: no memory alone"
    result = DistributedResult()
    dist_case._scale(result, why, 125.0)
    assert result.scaling_efficiency is None and result.world1_median_ms is None
    assert result.absent["scaling_efficiency"] == why


def test_a_build_failure_on_rank_1_is_the_record_on_rank_0(group: None) -> None:
    other = Rank1(Failure("oom", "OutOfMemoryError: rank 1 is full"))
    with rank1_beside(other), pytest.MonkeyPatch.context() as patch:
        patch.setattr(dist_case, "_world1", lambda *args: "not needed here")
        (record,) = dist_case.measure_case(CASE, ["mobius"], RANK0, build_into([]))
    assert record.status == "oom"
    assert record.message == "rank 1: OutOfMemoryError: rank 1 is full"
    assert record.distributed is None and record.time is None


def test_the_cpu_peak_proxy_is_own_parameters_gradients_adam_and_saved_bytes(
    group: None,
) -> None:
    """Scale: one fp32 weight (4 B), its gradient (4 B), AdamW's two moments (8 B; the step
    count is a scalar, left out), and 1000 saved bytes: 1016."""
    from mobius_core.training.step import make_optimizer

    model = Scale()
    optimizer = make_optimizer(model)
    model.weight.grad = model.weight.detach().clone()
    optimizer.step()
    passes = SimpleNamespace(saved=SimpleNamespace(bytes=1000))
    assert dist_case._peak(passes, model, optimizer, "cpu") == 1016
