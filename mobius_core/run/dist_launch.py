"""`--nproc N`: this command again as N ranks, through torch.distributed's elastic launcher,
as torchrun starts them (a standalone rendezvous on this host, no restarts).

When a rank fails the launcher ends every other rank (SIGTERM, then SIGKILL) and this
process reports each rank that failed by itself (not one the launcher ended) with its exit
status and the last line it wrote to stderr (its error or the end of its traceback). A rank
that hangs makes the others fail within the group's timeout (`run.distributed`), which ends
the run the same way.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import tempfile
import uuid
from pathlib import Path

RANK_PREFIX = re.compile(r"^\[rank\d+\]:")  # torch prefixes a rank's uncaught error
SHUTDOWN_S = 10  # seconds a rank has between SIGTERM and SIGKILL


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
            own = [(r, f) for r, f in failed if f.exitcode != -signal.SIGTERM] or failed
            return [_line(r, f.exitcode, _last_line(Path(logs), f.local_rank)) for r, f in own]
    return []


def _line(rank: int, exitcode: int, last: str | None) -> str:
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
