"""`mobius-bench bench`: the benchmark suite into a new run folder, through the bench API.

Suite options go after `--` (`mobius-bench bench -- --preset tiny --rounds 3`), the same as
`pytest bench/` takes; `--benchmark-json X` writes the run to the new file X (its report
beside it, in `X-report/`) instead of a new folder. Ctrl-C keeps every finished case,
marked `interrupted`, reports on it, and exits 130.

`--mode ddp` and `--mode fsdp` run as ranks of a process group: `--nproc N` launches N of
them here (as torchrun does), or `torchrun --nproc-per-node N -m mobius_core bench ...`
starts them; rank 0 writes the run. Without a launch these modes are a one-line error, and
so is `--nproc` with another mode, or more ranks than GPUs on CUDA.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from mobius_core.errors import BadInput
from mobius_core.outputs import RUNS, check_new_file, check_new_folder, fill_new_folder, new_folder
from mobius_core.run.distributed import DEFAULT_TIMEOUT_S
from mobius_core.run.matrix import SUITE_OPTIONS, Options

EXAMPLE = (
    "mobius-bench bench -- --preset tiny --rounds 3\n"
    "  mobius-bench bench --nproc 2 --mode ddp -- --preset tiny --frames 4 --resolution 64"
)
JSON_OPTION = "--benchmark-json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    parser.add_argument("--out", type=Path, default=RUNS, help="parent folder of the run folder")
    parser.add_argument(
        "--mode", help="eager, compile, ddp or fsdp: the suite's --mode (default: eager)"
    )
    parser.add_argument(
        "--nproc",
        type=int,
        help="launch this many ranks (as torchrun does) for --mode ddp or fsdp;"
        " on CUDA at most one per GPU",
    )
    parser.add_argument(
        "--rank-timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="seconds a rank waits for the others in a collective before the run ends",
    )
    options = ", ".join(f"--{name}" for name in [*SUITE_OPTIONS, JSON_OPTION[2:]])
    parser.add_argument(
        "suite_args", nargs="*", metavar="-- SUITE-OPTIONS", help=f"after --: {options}"
    )


class _SuiteParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise BadInput(f"suite options: {message}")


def suite_options(words: list[str]) -> argparse.Namespace:
    """The suite options among `words`; anything else is bad input, in one line."""
    parser = _SuiteParser(prog="mobius-bench bench --", add_help=False, exit_on_error=False)
    for name, text in SUITE_OPTIONS.items():
        parser.add_argument(f"--{name}", help=text)
    parser.add_argument(JSON_OPTION, type=Path, dest="benchmark_json")
    try:
        parsed, unknown = parser.parse_known_args(words)
    except argparse.ArgumentError as error:
        raise BadInput(f"suite options: {error}") from None
    if unknown:
        known = ", ".join(f"--{n}" for n in [*SUITE_OPTIONS, JSON_OPTION[2:]])
        raise BadInput(f"suite options: unknown {' '.join(unknown)}; the suite takes {known}")
    return parsed


def run(args: argparse.Namespace) -> int:
    from mobius_core.report.record import ERROR
    from mobius_core.run import distributed
    from mobius_core.run.bench import run_bench
    from mobius_core.run.matrix import parse, plan

    suite = suite_options(args.suite_args)
    values = {name: getattr(suite, name.replace("-", "_")) for name in SUITE_OPTIONS}
    values["device"] = values["device"] or args.device
    if args.mode is not None and values["mode"] not in (None, args.mode):
        raise BadInput(f"--mode: {args.mode} before -- and {values['mode']} after it; give one")
    values["mode"] = values["mode"] or args.mode
    options = parse(values)
    if args.nproc is not None and not distributed.launched():
        return _launch(args, options, suite.benchmark_json)
    world = distributed.join(options.device, args.rank_timeout) if distributed.launched() else None
    options = _ranked(options, world.size if world else None)
    plan(options)  # every case checked before anything is made
    if world is not None:
        try:
            return _rank(options, world, suite.benchmark_json, args.out)
        finally:
            distributed.leave()
    made = None
    if suite.benchmark_json is not None:
        run_json = check_new_file(suite.benchmark_json)
        report = check_new_folder(run_json.with_name(f"{run_json.stem}-report"))
    else:
        made = new_folder(args.out, _label(options.device))
        run_json, report = made / "run.json", made / "report"
    writer = run_bench(options, run_json)
    if writer.interrupted and writer.kept == 0:
        run_json.unlink(missing_ok=True)
        if made is not None:
            made.rmdir()
        print("mobius-bench: interrupted before any case finished; nothing was kept")
        return 130
    _report(run_json, report)
    if writer.interrupted:
        print(f"mobius-bench: interrupted; the finished cases are kept in {run_json} ({report}/)")
        return 130
    print(f"# run: {run_json}, report: {report}/")
    return 1 if any(r.status == ERROR for r in writer.failed) else 0


def _ranked(options: Options, world_size: int | None) -> Options:
    """The options at this launch's world size; a mode that needs ranks without a launch,
    or a launch without such a mode, is bad input."""
    from dataclasses import replace

    from mobius_core.run.dist_launch import check_ranks, cli

    check_ranks(options.mode, world_size, False, cli("bench"))
    return options if world_size is None else replace(options, world_size=world_size)


def _launch(args: argparse.Namespace, options: Options, benchmark_json: Path | None) -> int:
    """This command as `--nproc` ranks; everything checked here first."""
    from mobius_core.run.dist_launch import check_nproc, launch
    from mobius_core.run.matrix import plan

    check_nproc(args.nproc, options.device)
    plan(_ranked(options, args.nproc))
    if benchmark_json is not None:
        check_new_file(benchmark_json)
    argv = ["bench", "--device", args.device, "--out", str(args.out), "--mode", options.mode]
    argv += ["--rank-timeout", str(args.rank_timeout), "--", *args.suite_args]
    failures = launch(args.nproc, argv)
    for line in failures:
        print(f"mobius-bench: {line}", file=sys.stderr)
    return 1 if failures else 0


def _rank(options: Options, world, benchmark_json: Path | None, out: Path) -> int:
    """This process as one rank: rank 0 makes the run folder, writes the JSON and reports."""
    from mobius_core.run.dist_bench import run_ranks
    from mobius_core.run.dist_launch import FAILED_RECORDS, failed_variants

    if not world.leader:
        run_ranks(options, Path(), world)
        return 0
    made = None
    if benchmark_json is not None:
        run_json = check_new_file(benchmark_json)
        report = check_new_folder(run_json.with_name(f"{run_json.stem}-report"))
    else:
        made = new_folder(out, _label(options.device))
        run_json, report = made / "run.json", made / "report"
    writer = run_ranks(options, run_json, world)
    assert writer is not None
    _report(run_json, report)
    print(f"# run: {run_json}, report: {report}/ ({world.size} ranks)")
    if writer.interrupted:
        return 130
    failed = failed_variants(writer.failed)
    if failed is None:
        return 0
    print(f"{failed}; records in {run_json}", file=sys.stderr)
    return FAILED_RECORDS


def _report(run_json: Path, folder: Path) -> None:
    from mobius_core.report.runs import load_all
    from mobius_core.report.summary import write_report

    measured, predicted = load_all([run_json])
    fill_new_folder(lambda out: write_report(measured, predicted, out), folder)


def _label(device: str) -> str:
    """`cpu`, or the GPU's name as a slug (`nvidia-h100-80gb-hbm3`)."""
    if device == "cpu":
        return "cpu"
    import torch

    return "".join(c if c.isalnum() else "-" for c in torch.cuda.get_device_name().lower())
