"""`--nproc N`: this command again as N ranks, through torch.distributed's elastic launcher,
as torchrun starts them (a standalone rendezvous on this host, no restarts).

When a rank fails the launcher ends every other rank (SIGTERM, then SIGKILL) and this
process reports each rank that failed by itself (not one the launcher ended) with its exit
status and the last line it wrote to stderr (its error or the end of its traceback). A rank
that hangs makes the others fail within the group's timeout (`run.distributed`), which ends
the run the same way; each rank then still running is named as the one that hung (or
waited on one that did).

`step`, `profile`, `bench` and the pytest suite share the checks and the relaunch:
`check_ranks` (a mode that needs ranks, and ranks that need such a mode), `check_nproc`
(at most one rank per GPU), and `relaunch`, which starts the command again as ranks with
its own options.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mobius_core.errors import BadInput

if TYPE_CHECKING:
    from mobius_core.report.record import Record

RANK_PREFIX = re.compile(r"^\[rank\d+\]:")  # torch prefixes a rank's uncaught error
TIMED_OUT = re.compile(r"timed? ?out", re.IGNORECASE)  # gloo's and NCCL's collective timeouts
SHUTDOWN_S = 10  # seconds a rank has between SIGTERM and SIGKILL
FAILED_RECORDS = 10  # a rank's exit status: it finished, and wrote records of failed variants
# (apart from pytest's 0 to 5 and the CLI's 2 and 130)
ENDED = (-signal.SIGTERM, -signal.SIGKILL)  # the exit statuses of ranks the launcher ended


def cli(command: str) -> tuple[str, str]:
    """How a user starts `command`, and what torchrun's `-m` runs for it."""
    return f"mobius-bench {command}", f"mobius_core {command}"


SUITE = ("pytest bench/", "pytest bench/")  # the pytest suite, started either way


def check_ranks(mode: str, nproc: int | None, launched: bool, spelling: tuple[str, str]) -> None:
    """A one-line error unless ranks and mode agree: ddp and fsdp need ranks (`--nproc` or
    torchrun), and ranks run only ddp or fsdp; and this torch can run the mode. `spelling`
    (`cli(command)` or `SUITE`) words the way to launch them."""
    from mobius_core.run.dist_wrap import DISTRIBUTED, check_available

    if mode in DISTRIBUTED and nproc is None and not launched:
        direct, module = spelling
        raise BadInput(
            f"--mode {mode}: needs ranks; add --nproc N ({direct} --nproc 2 --mode {mode} ...)"
            f" or start it with torchrun --nproc-per-node N -m {module} --mode {mode} ..."
        )
    if mode not in DISTRIBUTED and (nproc is not None or launched):
        raise BadInput(f"--nproc/torchrun: runs --mode ddp or fsdp, not {mode}")
    check_available(mode)


def check_mode(command: str, args: argparse.Namespace, launched: bool) -> bool:
    """`step`'s and `profile`'s one-line errors for `--mode`, `--nproc` and `--compile-mode`;
    whether this run goes as ranks (ddp or fsdp, by `--nproc` or, `launched`, under torchrun)."""
    from mobius_core.run.dist_wrap import DISTRIBUTED
    from mobius_core.run.modes import check

    ranked = args.mode in DISTRIBUTED or args.nproc is not None or launched
    if ranked:
        check_ranks(args.mode, args.nproc, launched, cli(command))
    else:
        check(args.mode)
    if args.compile_mode is not None and args.mode != "compile":
        raise BadInput("--compile-mode: needs --mode compile")
    return ranked


def check_nproc(nproc: int, device: str) -> None:
    """A one-line error for fewer than 1 rank, or more ranks than GPUs on CUDA."""
    if nproc < 1:
        raise BadInput(f"--nproc: needs at least 1 process, got {nproc}")
    if device == "cuda":
        import torch

        if nproc > torch.cuda.device_count():
            raise BadInput(
                f"--nproc: {nproc} processes but {torch.cuda.device_count()} GPU(s) here;"
                " use at most one per GPU"
            )


def rank_argv(
    args: argparse.Namespace, add_arguments: Callable[[argparse.ArgumentParser], None]
) -> list[str]:
    """The options in `args` that differ from their defaults, as words a rank parses back
    into the same values (`--nproc` left out: a rank does not launch). For commands whose
    options all take a value, as `step` and `profile`."""
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    words: list[str] = []
    for action in parser._actions:
        value = getattr(args, action.dest, action.default)
        if action.dest != "nproc" and value != action.default:
            words += [action.option_strings[-1], str(value)]
    return words


def without_option(words: list[str], name: str) -> list[str]:
    """`words` with the option `name` and its value taken out (`--nproc 2`, `--nproc=2`)."""
    out, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word == name:
            skip = True
        elif not word.startswith(f"{name}="):
            out.append(word)
    return out


def relaunch(
    command: str,
    args: argparse.Namespace,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    device: str,
) -> int:
    """`command` with `args` again as `args.nproc` ranks; each failed rank in one line on
    stderr. The exit status: 0 when every rank succeeded, else 1."""
    check_nproc(args.nproc, device)
    failures = launch(args.nproc, [command, *rank_argv(args, add_arguments)])
    for line in failures:
        print(f"mobius-bench: {line}", file=sys.stderr)
    return 1 if failures else 0


def launch(nproc: int, argv: list[str], entry: list[str] | None = None) -> list[str]:
    """Run `python -m mobius_core ARGV` (or `entry` + ARGV) as `nproc` ranks; one line per
    failed rank, empty when every rank succeeded."""
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs, Std
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if "OMP_NUM_THREADS" not in os.environ:  # as torchrun: the ranks share the host's cores
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    command = entry or [sys.executable, "-m", "mobius_core"]
    with tempfile.TemporaryDirectory(prefix="mobius-ranks-") as logs:
        config = LaunchConfig(
            min_nodes=1,
            max_nodes=1,
            nproc_per_node=nproc,
            run_id=uuid.uuid4().hex[:8],
            rdzv_backend="c10d",
            rdzv_endpoint="localhost:0",
            max_restarts=0,
            monitor_interval=0.1,
            logs_specs=DefaultLogsSpecs(log_dir=logs, tee=Std.ERR),
            shutdown_timeout=SHUTDOWN_S,
        )
        try:
            elastic_launch(config, entrypoint=command[0])(*command[1:], *argv)
        except ChildFailedError as error:
            failed = sorted(error.failures.items())
            ended = [r for r, f in failed if f.exitcode in ENDED]  # by the launcher
            own = [(r, f) for r, f in failed if r not in ended] or failed
            lines = [
                (r, _line(r, f.exitcode, _last_line(Path(logs), f.local_rank))) for r, f in own
            ]
            return [line for _, line in lines] + _hung(ended, lines)
    return []


def _hung(ended: list[int], failed: list[tuple[int, str]]) -> list[str]:
    """Where a rank failed by timing out in a collective, one line per rank the launcher
    ended: it was still running, so it hung or waited on one that did."""
    timed_out = next((r for r, line in failed if TIMED_OUT.search(line)), None)
    if timed_out is None:
        return []
    return [
        f"rank {r} was still running when rank {timed_out} timed out waiting in a collective"
        " (ended by the launcher): it hung, or waited on a rank that did"
        for r in ended
    ]


def failed_variants(records: list[Record]) -> str | None:
    """The line naming a run's variants that failed (not for memory), or None: a rank that
    finished says it last on stderr, where the launcher reads it."""
    from mobius_core.report.record import ERROR

    failed = [f"{r.variant.name} at {r.case.key}" for r in records if r.status == ERROR]
    return f"variants failed ({', '.join(failed)})" if failed else None


def _line(rank: int, exitcode: int, last: str | None) -> str:
    if exitcode == FAILED_RECORDS:
        return f"rank {rank} finished; " + (last or "some variants failed")
    if exitcode < 0:
        status = f"killed by {signal.Signals(-exitcode).name}"
    else:
        status = f"exit status {exitcode}"
    return f"rank {rank} failed ({status})" + (f": {last}" if last else "")


def _last_line(logs: Path, local_rank: int) -> str | None:
    """The last line rank `local_rank` wrote to stderr that is not a warning's source line
    (torch's `[rankN]:` prefix taken off)."""
    for path in logs.glob(f"**/attempt_*/{local_rank}/stderr.log"):
        text = path.read_text(errors="replace")
        lines = [RANK_PREFIX.sub("", line).strip() for line in text.splitlines()]
        lines = [line for line in lines if line and not line.startswith("warnings.warn")]
        if lines:
            return lines[-1]
    return None
