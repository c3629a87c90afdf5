"""Two ranks for real (gloo, CPU): the collectives' byte counts, FSDP2 on mobius, and a
rank that fails or hangs ending the run with its name, no rank left running."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from mobius_core.run.dist_launch import launch

WORKER = str(Path(__file__).parent / "fixtures" / "dist_worker.py")
ENTRY = [sys.executable, WORKER]


@pytest.fixture(scope="module")
def counts(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("dist") / "counts.json"
    assert launch(2, ["collectives", str(out)], ENTRY) == []
    return json.loads(out.read_text())


def test_comm_counter_counts_full_buffers(counts: dict) -> None:
    assert counts["hand"] == {"allreduce": 40, "allgather_base": 24, "reduce_scatter_base": 32}


@pytest.mark.parametrize("step", ["step0", "step1"])
def test_fsdp_frozen_shards_never_get_a_gradient(counts: dict, step: str) -> None:
    assert counts[step]["frozen_with_grad"] == 0
    assert counts[step]["trainable_without_grad"] == 0


@pytest.mark.parametrize("step", ["step0", "step1"])
def test_fsdp_gathers_mobius_trunk_in_forward_only(counts: dict, step: str) -> None:
    """tiny has 7 motion-module positions: forward gathers 7 trunk layers, 7 branch modules
    and the root; backward gathers only the 7 branch modules and reduce-scatters them and
    the root (bridges, fusion): the trunk is never gathered again nor reduced."""
    positions = 2 * 1 + 1 + 2 * 2  # tiny: 2 levels of 1 down layer, the middle, 2 of 2 up
    assert counts[step]["forward_calls"] == {"allgather_base": 2 * positions + 1}
    assert counts[step]["backward_calls"] == {
        "allgather_base": positions,
        "reduce_scatter_base": positions + 1,
    }


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("what", ["fail", "hang", "stall"])
def test_a_failing_or_hanging_rank_ends_the_run_named(tmp_path: Path, what: str) -> None:
    """Rank 1 raises (or sleeps while rank 0 waits at a barrier or inside a collective, 3 s
    timeout): the launch returns within seconds, names the rank and the reason, and leaves no
    rank running."""
    pids = tmp_path / "pid"
    begin = time.monotonic()
    lines = launch(2, [what, str(pids)], ENTRY)
    assert time.monotonic() - begin < 60
    if what == "fail":
        assert lines == ["rank 1 failed (exit status 1): RuntimeError: boom on purpose"]
    elif what == "hang":
        assert len(lines) == 1 and lines[0].startswith("rank 0 failed (exit status 1)")
        assert "Ranks 1 failed to pass monitoredBarrier" in lines[0]
    else:  # inside the collective rank 0 cannot tell who is missing: rank 1 is the one left
        assert len(lines) == 2 and lines[0].startswith("rank 0 failed (exit status 1)")
        assert "Timed out" in lines[0]
        assert lines[1].startswith("rank 1 was still running when rank 0 timed out")
    for rank in (0, 1):
        assert not _alive(int(Path(f"{pids}-{rank}").read_text()))
