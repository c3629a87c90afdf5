"""`step` and `profile` under --mode ddp|fsdp: their one-line errors, the options a rank is
relaunched with, and what rank 0 writes from every rank's figures.

The process group is real but of one rank (gloo, in this process); where a second rank is
pretended, `gather` adds its value beside this rank's. The variant is the one-weight `Scale`
(tests/fakes.py)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from fakes import Scale, one_rank_group

from mobius_core.cli import main
from mobius_core.models.config import preset
from mobius_core.run import cmd_profile, cmd_step, distributed
from mobius_core.run.case import make_case
from mobius_core.run.dist_launch import rank_argv
from mobius_core.run.dist_profile import write_rank_profile
from mobius_core.run.dist_step import rank_steps
from mobius_core.run.distributed import World

RANK1_MS = 500.0  # the pretended rank 1's step time


@pytest.fixture(scope="module")
def group() -> Iterator[None]:
    with one_rank_group():
        yield


def world(rank: int) -> World:
    return World(rank=rank, size=2, local_rank=rank, backend="gloo", timeout_s=30.0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["step", "--mode", "ddp"], "--mode ddp: needs ranks; add --nproc N (mobius-bench step"),
        (["profile", "--mode", "fsdp"], "--mode fsdp: needs ranks; add --nproc N"),
        (["step", "--nproc", "2"], "--nproc/torchrun: runs --mode ddp or fsdp, not eager"),
        (
            ["profile", "--nproc", "2", "--mode", "compile"],
            "--nproc/torchrun: runs --mode ddp or fsdp, not compile",
        ),
        (["step", "--nproc", "2", "--mode", "ddp", "--save", "x"], "--save: not with --mode ddp"),
        (["step", "--nproc", "0", "--mode", "ddp"], "--nproc: needs at least 1 process, got 0"),
    ],
)
def test_ranked_commands_refuse_in_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mobius-bench: error: {message}") and err.count("\n") == 1


def test_more_ranks_than_gpus_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert main(["step", "--nproc", "3", "--mode", "ddp", "--device", "cuda"]) == 2
    assert "--nproc: 3 processes but 2 GPU(s) here" in capsys.readouterr().err


def _parsed(add_arguments, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_a_rank_gets_the_options_that_differ_from_their_defaults_but_nproc() -> None:
    """`step`'s preset default is tiny and its mode's eager: `--preset tiny` goes unsaid,
    `--nproc` is the launcher's; the rest comes back word for word."""
    argv = ["--preset", "tiny", "--frames", "4", "--nproc", "2", "--mode", "ddp"]
    argv += ["--rank-timeout", "30"]
    words = rank_argv(_parsed(cmd_step.add_arguments, argv), cmd_step.add_arguments)
    assert words == ["--frames", "4", "--mode", "ddp", "--rank-timeout", "30.0"]


def test_a_rank_parses_its_options_back_to_the_same_values() -> None:
    argv = ["--variants", "serial,mobius", "--nproc", "2", "--mode", "fsdp", "--out", "p"]
    argv += ["--steps", "1", "--warmup", "0", "--resolution", "64"]
    args = _parsed(cmd_profile.add_arguments, argv)
    back = _parsed(cmd_profile.add_arguments, rank_argv(args, cmd_profile.add_arguments))
    assert vars(back) == vars(args) | {"nproc": None}


@pytest.fixture
def rank1_took_500_ms(group: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def gather(value: object) -> list[object]:
        if value is None:  # the build's failure: none on rank 1
            return [None, None]
        if isinstance(value, tuple):  # (step ms, peak)
            return [value, (RANK1_MS, None)]
        return [value, value]  # anything else: the same on rank 1

    monkeypatch.setattr(distributed, "gather", gather)


def test_step_row_is_the_slowest_rank_and_each_rank_time(rank1_took_500_ms: None) -> None:
    case = make_case("tiny", 1, 2, 64, "fp32", "cpu", 2, 1, mode="ddp", world_size=2)
    (row,) = rank_steps(case, world(0), ["mobius"], lambda case, variant: Scale())
    assert row["variant"] == "mobius" and row["trainable params"] == 1
    assert row["step ms (max over ranks)"] == RANK1_MS
    own, other = row["step ms by rank"].split(" / ")
    assert float(own) < RANK1_MS and other == "500.0"
    assert rank_steps(case, world(1), ["mobius"], lambda case, variant: Scale()) == []


def _scales(config, variants: list[str], device: str, dtype) -> dict[str, Scale]:
    return {v: Scale() for v in variants}


def _profile(folder: Path, rank: int) -> list[str]:
    config = preset("tiny", frames=2, resolution=64)
    args = (config, ["serial", "mobius"], "cpu", torch.float32, 1, 0, folder, world(rank))
    return write_rank_profile(*args, "ddp", _scales)


def test_rank_0_writes_profile_md_with_every_rank(rank1_took_500_ms: None, tmp_path: Path) -> None:
    files = _profile(tmp_path, 0)
    assert files == ["profile.md", "serial-trace.json", "mobius-trace.json", "rank1/"]
    text = (tmp_path / "profile.md").read_text()
    assert "Mode: ddp (DDP over the trainable parameters), 2 ranks" in text
    assert "every rank profiled its own steps" in text
    assert "On CPU (gloo) a correctness check, not a performance claim." in text
    assert "## Every rank" in text and "| variant | rank 0 ms | rank 1 ms |" in text


def test_rank_n_writes_its_traces_in_its_folder_only(
    rank1_took_500_ms: None, tmp_path: Path
) -> None:
    assert _profile(tmp_path, 1) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rank1"]
    traces = sorted(p.name for p in (tmp_path / "rank1").iterdir())
    assert traces == ["mobius-trace.json", "serial-trace.json"]
