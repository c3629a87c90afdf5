"""`mobius-bench bench`: the benchmark suite into a new run folder, through the bench API.

Suite options go after `--` (`mobius-bench bench -- --preset tiny --rounds 3`), the same as
`pytest bench/` takes; `--benchmark-json X` writes the run to the new file X (its report
beside it, in `X-report/`) instead of a new folder. Ctrl-C keeps every finished case,
marked `interrupted`, reports on it, and exits 130.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from mobius_core.errors import BadInput
from mobius_core.outputs import RUNS, check_new_file, check_new_folder, fill_new_folder, new_folder
from mobius_core.run.matrix import SUITE_OPTIONS

EXAMPLE = "mobius-bench bench -- --preset tiny --rounds 3"
JSON_OPTION = "--benchmark-json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    parser.add_argument("--out", type=Path, default=RUNS, help="parent folder of the run folder")
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
    from mobius_core.run.bench import run_bench
    from mobius_core.run.matrix import parse, plan

    suite = suite_options(args.suite_args)
    values = {name: getattr(suite, name.replace("-", "_")) for name in SUITE_OPTIONS}
    values["device"] = values["device"] or args.device
    options = parse(values)
    plan(options)  # every case checked before anything is made
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
