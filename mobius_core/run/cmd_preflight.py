"""`mobius-bench preflight`: `tiny` through every path a GPU run depends on, in seconds.

CUDA events, allocator peaks, the per-variant memory process (spawn), NVML memory, power
and energy, FLOPs under autocast (with fvcore's cross-check) and the profiler with a memory
snapshot: each is a check, printed one line each, and a last line says whether all passed
or which failed first. The run, its profile and `preflight.md` go into a new folder. On a
CPU the CUDA-only checks are skipped, each saying so. Exit status 1 when a check failed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mobius_core import options

EXAMPLE = "mobius-bench preflight --device cuda --out reports/gpu/preflight"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_device(parser, dtype=False)
    parser.add_argument("--out", type=Path, help="a new folder (default: reports/runs/<new>)")


def run(args: argparse.Namespace) -> int:
    from mobius_core.outputs import fill_new_folder, write_atomic
    from mobius_core.run.preflight import FAILED, markdown, run_preflight, verdict
    from mobius_core.training.devices import resolve_device

    device = resolve_device(args.device)
    checks = []
    begin = time.perf_counter()

    def fill(folder: Path) -> None:
        checks.extend(run_preflight(device, folder))
        write_atomic(folder / "preflight.md", markdown(checks, time.perf_counter() - begin, device))

    out = fill_new_folder(fill, args.out, f"{device}-preflight")
    for check in checks:
        print(check.line())
    print(f"{verdict(checks)} ({time.perf_counter() - begin:.1f} s; {out}/)")
    return 1 if any(c.status == FAILED for c in checks) else 0
