"""torch.compile's cost: graphs compiled and seconds spent compiling, kept out of timed steps.

`warm_up` runs steps until one compiles nothing, so that no timed step holds compilation.
Primary: the seconds between dynamo's compile callbacks (its tracing and the backend's
compilation; in torch 2.13 also the backward's lazy compilation). Cross-check: the
warm-up steps' wall time beyond that of the last one, which compiled nothing. Graphs are
counted with dynamo's own counter: every graph of a graph break and every recompilation
counts one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from mobius_core.measure import compat
from mobius_core.measure.results import CompileResult

WARMUP_LIMIT = 8  # steps: a variant still compiling after these is recorded as unstable
METHOD = (
    "seconds between dynamo's compile callbacks over the warm-up (tracing and backend"
    " compilation); cross-check: the warm-up steps' wall time beyond the last one's, which"
    " compiled nothing; graphs from torch._dynamo.utils.counters"
)


class CompileWatch:
    """Graphs dynamo compiled and seconds it spent compiling while `watching()`."""

    def __init__(self) -> None:
        self.graphs = 0
        self.seconds = 0.0
        self._began = 0.0

    @contextmanager
    def watching(self) -> Iterator[None]:
        before = compat.dynamo_graphs()
        try:
            with compat.compile_callbacks(self._begin, self._end):
                yield
        finally:
            self.graphs += compat.dynamo_graphs() - before

    def _begin(self) -> None:
        self._began = time.perf_counter()

    def _end(self) -> None:
        self.seconds += time.perf_counter() - self._began


def warm_up(
    step: Callable[[], object],
    backend: str,
    compile_mode: str | None,
    limit: int = WARMUP_LIMIT,
) -> CompileResult:
    """Run `step` until a step after the first compiles no graph (at most `limit` steps)."""
    watch, graphs, wall = CompileWatch(), [], []
    hits, misses = compat.inductor_cache_hits()
    for _ in range(limit):
        before, begin = watch.graphs, time.perf_counter()
        with watch.watching():
            step()
        wall.append(time.perf_counter() - begin)
        graphs.append(watch.graphs - before)
        if len(graphs) > 1 and graphs[-1] == 0:
            break
    stable = len(graphs) > 1 and graphs[-1] == 0
    hits_after, misses_after = compat.inductor_cache_hits()
    return CompileResult(
        compile_mode=compile_mode,
        backend=backend,
        seconds=watch.seconds,
        warmup_excess_s=sum(wall[:-1]) - (len(wall) - 1) * wall[-1] if stable else None,
        compiles=graphs[0],
        recompiles=sum(graphs[1:]),
        warmup_steps=len(graphs),
        cache_hits=hits_after - hits,
        cache_misses=misses_after - misses,
        stable=stable,
        method=METHOD,
        absent={} if stable else {"warmup_excess_s": f"still compiling after {limit} steps"},
    )


def graphs_during(action: Callable[[], object]) -> int:
    """Graphs dynamo compiled while `action` ran (no callbacks: cheap enough beside a step)."""
    before = compat.dynamo_graphs()
    action()
    return compat.dynamo_graphs() - before
