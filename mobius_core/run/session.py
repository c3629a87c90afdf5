"""A bench session: the cases and variants to measure, measured on demand, case by case.

For each preset (with its device and dtype), first every variant's untimed passes run in a
process of their own (the launcher), while this process holds no model; then the variants
are built here once and reused for every shape of the preset, and each case is timed
interleaved. Both faces of the suite use it: the bench API and the pytest suite, which may
select any subset of cases and variants, in any order.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from mobius_core.report.record import INTERRUPTED, OK, Case, Record
from mobius_core.run.case import build_variant
from mobius_core.run.guard import Failure, guarded, release
from mobius_core.run.launcher import Job, Launch, all_absent, isolated
from mobius_core.run.matrix import cross_check_rounds
from mobius_core.run.passes import Untimed
from mobius_core.run.runner import CaseRun

Plan = dict[Case, list[str]]  # case -> its variants, in the order to run
Group = tuple[object, ...]  # what a built model can be shared across


def group(case: Case) -> Group:
    """The cases one built model serves: the same preset, device, dtype, rejoin depth, mode
    and weights; only the clip shape differs."""
    c = case
    return (c.preset, c.device, c.dtype, c.rejoin, c.mode, c.world_size, c.unet, c.motion_adapter)


class BenchSession:
    """Measures the planned cases on demand; `records(case)` after `run(case)`."""

    def __init__(
        self,
        plan: Plan,
        launch: Launch = isolated,
        say: Callable[[str], None] = print,
        build: Callable[[Case, str], nn.Module] = build_variant,
    ) -> None:
        self.plan, self.launch, self.say, self.build = plan, launch, say, build
        self._untimed: dict[tuple[str, str], Untimed] = {}  # (case key, variant)
        self._models: tuple[Group, dict[str, nn.Module | Failure]] | None = None
        self.current: CaseRun | None = None
        self._estimated = False
        self.failed: list[Record] = []  # records that ran out of memory or failed

    def run(self, case: Case) -> CaseRun:
        """`case` timed (once): its untimed passes first, in processes of their own."""
        if self.current is not None and self.current.case == case:
            return self.current
        self.current = None
        self._measure_apart(case)
        models = self._models_of(case)
        run = CaseRun(case, {v: models[v] for v in self.plan[case]})
        self.current = run  # before timing: what Ctrl-C interrupts is still seen
        run.run_interleaved(None if self._estimated else self._estimate)
        self._estimated = True
        return run

    def record(self, case: Case, variant: str, pytest_median_ms: float | None = None) -> Record:
        """The record of a timed case's variant."""
        run = self.run(case)
        untimed = self._untimed.get((case.key, variant)) or all_absent("no untimed pass ran")
        record = run.record(variant, untimed, pytest_median_ms)
        if record.status not in (OK, INTERRUPTED):
            self.failed.append(record)
        return record

    def interrupted(self) -> list[Record]:
        """Records of the case being timed when Ctrl-C came, for variants it had timed."""
        run = self.current
        if run is None:
            return []
        records = [
            run.interrupted(v, self._untimed.get((run.case.key, v)) or all_absent("interrupted"))
            for v in run.trials
        ]
        return [r for r in records if r is not None]

    def _measure_apart(self, case: Case) -> None:
        """Each variant's untimed passes for every planned case of `case`'s group."""
        if all((case.key, v) in self._untimed for v in self.plan[case]):
            return
        self._models = None  # nothing of any variant stays here while they measure
        release(case.device)
        cases = [c for c in self.plan if group(c) == group(case)]
        for variant in self._variants(cases):
            job = Job(variant, tuple(c for c in cases if variant in self.plan[c]))
            self.say(
                f"# memory, saved tensors, FLOPs: {variant} at {case.preset},"
                f" {len(job.cases)} shape(s), in a process of its own"
            )
            for key, untimed in self.launch(job).items():
                self._untimed[(key, variant)] = untimed

    def _models_of(self, case: Case) -> dict[str, nn.Module | Failure]:
        """The group's models, built once (a failure to build is that variant's record)."""
        if self._models is not None and self._models[0] == group(case):
            return self._models[1]
        self._models = None
        release(case.device)
        cases = [c for c in self.plan if group(c) == group(case)]
        built = {v: self._build(case, v) for v in self._variants(cases)}
        self._models = (group(case), built)
        return built

    def _variants(self, cases: list[Case]) -> list[str]:
        return list(dict.fromkeys(v for c in cases for v in self.plan[c]))

    def _build(self, case: Case, variant: str) -> nn.Module | Failure:
        holder: list[nn.Module] = []
        failure = guarded(lambda: holder.append(self.build(case, variant)), case.device)
        return holder[0] if holder else failure  # type: ignore[return-value]

    def _estimate(self, first_round_s: float) -> None:
        """Print how long timing will take, from the first round (scaled by clip size)."""
        first = next(iter(self.plan))
        size = _size(first) * len(self.plan[first])
        total = sum(
            first_round_s * _size(c) * len(v) / size * (c.warmup + c.rounds + cross_check_rounds(c))
            for c, v in self.plan.items()
        )
        minutes = total / 60
        self.say(
            f"# estimate: timing takes about {minutes:.1f} min for {len(self.plan)} case(s)"
            f" (from a first round of {first_round_s:.2f} s, scaled by clip size)"
        )


def _size(case: Case) -> int:
    return case.batch * case.frames * case.resolution**2
