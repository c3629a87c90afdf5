"""The `mobius-bench` command line: a table of commands, each in its own module.

Only the module of the command being run is imported (its `add_arguments` and `run`), so
that `report`, `compare` and `baseline` work where torch cannot be imported. Bad input
(`BadInput`) and running out of memory end in one line and exit status 2; Ctrl-C in one
line and 130; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import NoReturn

from mobius_core.errors import BadInput, is_oom

PROG = "mobius-bench"
# name -> (module with add_arguments, run and EXAMPLE; one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "bench": ("mobius_core.run.cmd_bench", "the benchmark suite into a new run folder"),
    "step": ("mobius_core.run.cmd_step", "one quick matched step per variant, as a table"),
    "dry-run": ("mobius_core.run.cmd_dry_run", "predict FLOPs and bytes on the meta device"),
    "converge": (
        "mobius_core.run.cmd_converge",
        "quality at matched cost: temporal gain per variant vs serial",
    ),
    "profile": ("mobius_core.run.cmd_profile", "torch.profiler traces and tables per variant"),
    "preflight": (
        "mobius_core.run.cmd_preflight",
        "tiny through every CUDA path of a GPU run, in seconds: a line per check",
    ),
    "report": ("mobius_core.report.cmd_report", "claims, tables and plots from runs"),
    "compare": ("mobius_core.report.cmd_compare", "a new run against a base; exit 1 on regression"),
    "baseline": ("mobius_core.report.cmd_baseline", "a run cut to its deterministic figures"),
    "export-motion": (
        "mobius_core.interop.cmd_export_motion",
        "trained motion modules as a diffusers MotionAdapter folder",
    ),
}


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Help that shows every default (unless the help says it) and keeps the example's layout."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line, and `-5%` read as a value, not an option."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._negative_number_matcher = re.compile(r"^-\d+%?$|^-\d*\.\d+%?$")

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _version() -> str:
    try:
        return version("mobius-bench")
    except PackageNotFoundError:  # run from a checkout that is not installed
        return "unknown"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `command`'s module is imported to add its options."""
    parser = _Parser(
        prog=PROG,
        description="Serial vs Mobius 3D-UNet fine-tuning: benchmark, profile, report.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, summary) in COMMANDS.items():
        if name != command:
            sub.add_parser(name, help=summary)
            continue
        module = import_module(module_name)
        doc = (module.__doc__ or summary).strip()
        parser_of_command = sub.add_parser(
            name,
            help=summary,
            description=doc,
            epilog=f"example:\n  {module.EXAMPLE}",
            formatter_class=_Formatter,
        )
        module.add_arguments(parser_of_command)
        parser_of_command.set_defaults(func=module.run)
    return parser


def _command(argv: list[str]) -> str | None:
    """The command `argv` names: its first word that is one."""
    return next((word for word in argv if word in COMMANDS), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(_command(argv)).parse_args(argv)
    try:
        return args.func(args)
    except BadInput as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing half-written was kept", file=sys.stderr)
        return 130
    except Exception as error:
        if not is_oom(error):
            raise
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"{PROG}: error: out of memory: {first}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
