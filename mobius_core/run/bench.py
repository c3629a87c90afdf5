"""The bench run as a Python API: options in, a pytest-benchmark JSON out, case by case.

`run_bench` checks its output path before any work, measures each case (untimed passes in
a process per variant, timing interleaved here, then the cross-check rounds timed as
pytest-benchmark's pedantic times them) and rewrites the JSON after each case. On Ctrl-C it
marks the file `interrupted`, keeps every finished case (and what the case in progress had
timed, as `interrupted` records) and returns its writer, whose `interrupted` says so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch import nn

from mobius_core.outputs import check_new_file
from mobius_core.progress import Progress, progress
from mobius_core.report.record import Case
from mobius_core.run.case import build_variant
from mobius_core.run.launcher import Launch, isolated
from mobius_core.run.matrix import Options, cross_check_rounds, plan
from mobius_core.run.runjson import RunWriter
from mobius_core.run.session import BenchSession


def run_bench(
    options: Options,
    out_json: Path,
    launch: Launch = isolated,
    say: Callable[[str], None] | None = None,
    build: Callable[[Case, str], nn.Module] = build_variant,
) -> RunWriter:
    """Measure every case the options name into `out_json` (a new file); its writer.

    Progress shows on a bar when stderr is a terminal; `say` (default: print, above the
    bar) takes the run's remarks."""
    check_new_file(out_json)
    chosen = plan(options)
    with progress(len(chosen), "bench") as bar:
        return _run(chosen, out_json, launch, say or bar.say, build, bar)


def _run(
    plan: dict[Case, list[str]],
    out_json: Path,
    launch: Launch,
    say: Callable[[str], None],
    build: Callable[[Case, str], nn.Module],
    bar: Progress,
) -> RunWriter:
    session = BenchSession(plan, launch, say, build)
    writer = RunWriter(out_json)
    try:
        for case in session.plan:
            bar.doing(f"{case.key}: {', '.join(session.plan[case])}")
            run = session.run(case)
            for variant in session.plan[case]:
                run.cross_check(variant, cross_check_rounds(case))
            records = [session.record(case, v) for v in session.plan[case]]
            seconds = {v: [ms / 1000 for ms in t.cross_ms] for v, t in run.trials.items()}
            writer.add(records, seconds)
            say(f"# case {case.key}: " + ", ".join(f"{r.variant.name} {r.status}" for r in records))
            bar.done()
    except KeyboardInterrupt:
        partial = session.interrupted()
        writer.interrupted = True
        seconds = {r.variant.name: _seconds(r) for r in partial}
        writer.add(partial, seconds)  # written, even with nothing in it
    return writer


def _seconds(record) -> list[float]:
    samples = record.time.samples_ms if record.time else None
    return [ms / 1000 for ms in samples or []]
