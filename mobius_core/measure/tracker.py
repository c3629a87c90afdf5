"""The one shape of a tracker: `track()` around what it measures, `result()` after.

A pass of the runner enters the trackers it needs together (an `ExitStack`, as
optimum-benchmark's scenarios do) around one training step, and hands the step
`phase_marks(trackers)` so that a tracker that cares about the step's phases (forward,
backward, optimizer) sees them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from typing import Generic, TypeVar

from mobius_core.measure.results import Result

R = TypeVar("R", bound=Result)


class Tracker(ABC, Generic[R]):
    """Measures one figure around a step; `result()` gives its Result, absences explained."""

    @abstractmethod
    def track(self) -> AbstractContextManager[object]:
        """Around one whole step (some trackers accumulate over several entries)."""

    def mark(self, phase: str) -> AbstractContextManager[object]:
        """Around one phase of the step: forward, backward or optimizer."""
        return nullcontext()

    @abstractmethod
    def result(self) -> R:
        """What was measured, with the reason for every absent figure."""


def phase_marks(trackers: Sequence[Tracker]) -> Callable[[str], AbstractContextManager[object]]:
    """One `mark(phase)` for a training step that enters every tracker's mark."""

    @contextmanager
    def mark(phase: str) -> Iterator[None]:
        with ExitStack() as stack:
            for tracker in trackers:
                stack.enter_context(tracker.mark(phase))
            yield

    return mark


@contextmanager
def tracking(trackers: Sequence[Tracker]) -> Iterator[None]:
    """Enter every tracker's `track()` together, in order; leave them in reverse."""
    with ExitStack() as stack:
        for tracker in trackers:
            stack.enter_context(tracker.track())
        yield
