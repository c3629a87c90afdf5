"""DDP over the trainable parameters only and without find_unused_parameters (a one-rank
gloo group in this process), and the one-line errors of the distributed modes."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from fakes import one_rank_group
from torch import nn

from mobius_core.errors import BadInput
from mobius_core.models.variants import BUILT_IN
from mobius_core.report.record import Case
from mobius_core.run import cmd_bench
from mobius_core.run.case import build_variant, config
from mobius_core.run.dist_wrap import check_available, wrap_ddp
from mobius_core.run.matrix import Options
from mobius_core.training.step import make_batch, make_optimizer, train_step

CASE = Case("tiny", 1, 4, 64, "fp32", "cpu", 2, 0)


@pytest.fixture
def group() -> Iterator[None]:
    with one_rank_group():
        yield


@pytest.mark.parametrize("variant", BUILT_IN)
def test_ddp_is_given_no_frozen_parameter(group: None, variant: str) -> None:
    model = build_variant(CASE, variant)
    frozen = {id(p) for p in model.parameters() if not p.requires_grad}
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert frozen and trainable
    held = {id(p) for p in wrap_ddp(model, "cpu")._module_parameters}
    assert held == trainable


@pytest.mark.parametrize("variant", ["mobius", "mobius-double"])
def test_ddp_needs_no_find_unused_parameters(group: None, variant: str) -> None:
    """Two steps with find_unused_parameters=False: DDP raises at the second step when a
    trainable parameter took no part in the first one's loss (the control below shows it)."""
    wrapped = wrap_ddp(build_variant(CASE, variant), "cpu")
    assert wrapped.find_unused_parameters is False
    optimizer, batch = make_optimizer(wrapped), make_batch(config(CASE))
    for _ in range(2):
        train_step(wrapped, optimizer, batch)


def test_ddp_control_an_unused_trainable_parameter_fails(group: None) -> None:
    model = build_variant(CASE, "mobius")
    model.unused = nn.Parameter(torch.zeros(3))  # trainable, never in the loss
    wrapped = wrap_ddp(model, "cpu")
    optimizer, batch = make_optimizer(wrapped), make_batch(config(CASE))
    with pytest.raises(RuntimeError, match="find_unused_parameters"):
        for _ in range(2):
            train_step(wrapped, optimizer, batch)


def test_fsdp_without_fully_shard_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch.distributed.fsdp as fsdp

    monkeypatch.delattr(fsdp, "fully_shard")
    with pytest.raises(BadInput, match=r"--mode fsdp: torch .* has no .*fully_shard"):
        check_available("fsdp")


def _args(**values: object) -> argparse.Namespace:
    defaults = {"device": "cpu", "out": Path("unused"), "mode": None, "nproc": None}
    return argparse.Namespace(**{**defaults, "rank_timeout": 5.0, "suite_args": []} | values)


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_a_distributed_mode_without_a_launch_is_one_line(mode: str) -> None:
    with pytest.raises(BadInput, match=f"--mode {mode}: needs ranks; add --nproc N"):
        cmd_bench.run(_args(mode=mode, suite_args=["--preset", "tiny"]))


def test_compile_without_dynamo_is_one_line_before_any_work(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`bench --mode compile` on a torch that cannot compile: one line, no run folder."""
    from mobius_core.measure import compat
    from mobius_core.run import bench

    def ran(*_: object) -> None:
        raise AssertionError("the suite ran: --mode compile was not checked first")

    monkeypatch.setattr(compat, "compile_support", lambda: "torch 9.9 has no torch._dynamo")
    monkeypatch.setattr(bench, "run_bench", ran)  # fail at once, not after a whole run
    with pytest.raises(BadInput, match=r"^--mode compile: torch 9.9 has no torch._dynamo; use"):
        cmd_bench.run(_args(mode="compile", out=tmp_path, suite_args=["--preset", "tiny"]))
    assert list(tmp_path.iterdir()) == []


def test_a_rank_that_finished_with_failed_variants_is_not_called_failed() -> None:
    from mobius_core.run.dist_launch import FAILED_RECORDS, _line

    last = "variants failed (mobius at c); records in r.json"
    assert _line(0, FAILED_RECORDS, last) == f"rank 0 finished; {last}"
    assert _line(1, 1, "RuntimeError: x") == "rank 1 failed (exit status 1): RuntimeError: x"


def test_nproc_with_eager_is_one_line() -> None:
    with pytest.raises(BadInput, match="runs --mode ddp or fsdp, not eager"):
        cmd_bench.run(_args(nproc=2, suite_args=["--preset", "tiny"]))


def test_more_ranks_than_gpus_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    options = Options(device="cuda", preset="tiny", mode="ddp")
    with pytest.raises(BadInput, match="--nproc: 3 processes but 2 GPU"):
        cmd_bench._launch(_args(nproc=3), options, None)


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_a_plan_of_a_distributed_mode_needs_ranks(mode: str) -> None:
    """A ddp or fsdp plan without ranks (world size 1) is a one-line usage error."""
    from mobius_core.run.matrix import plan

    with pytest.raises(BadInput, match=f"--mode {mode}: needs 2 or more ranks"):
        plan(Options(device="cpu", preset="tiny", mode=mode))
    assert plan(Options(device="cpu", preset="tiny", mode=mode, world_size=2))
