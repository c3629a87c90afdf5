"""The dry run: fused attention as CUDA runs it, typed records on the meta device, a batch
that costs no memory, a readable table, and its command line."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

from mobius_core.cli import main
from mobius_core.measure.results import FlopsResult, ParamCounts, SavedResult
from mobius_core.models.config import Config, preset
from mobius_core.models.variants import VARIANTS, build_unet, parameter_counts
from mobius_core.report.record import Case, DryRecord, DryRun, StateBytes, VariantInfo
from mobius_core.run.attention import attention_model
from mobius_core.run.dryrun import dry_run
from mobius_core.run.dryrun_table import FLOP_UNITS, format_dry_run, scale

BF16, FP32, U64, I64 = torch.bfloat16, torch.float32, torch.uint64, torch.int64
N, HEADS, L, S, D = 1, 2, 4, 6, 8  # attention of 4 queries over 6 keys, 2 heads of 8
PRODUCT = 2 * N * HEADS * L * S * D  # FLOPs of one batched product, q k^T or p v: 768


def _attention_step(model: str, dtype: torch.dtype) -> tuple[list[Any], int, int]:
    """What one attention saves for backward (shape, dtype), and its forward and backward
    FLOPs, on the meta device under the attention `model`."""
    q = torch.empty(N, HEADS, L, D, device="meta", dtype=dtype, requires_grad=True)
    k = torch.empty(N, HEADS, S, D, device="meta", dtype=dtype, requires_grad=True)
    v = torch.empty(N, HEADS, S, D, device="meta", dtype=dtype, requires_grad=True)
    saved: list[Any] = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        saved.append((tuple(tensor.shape), tensor.dtype))
        return tensor

    counter = FlopCounterMode(display=False)
    with attention_model(model), counter:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = F.scaled_dot_product_attention(q, k, v)
        forward = counter.get_total_flops()
        out.sum().backward()
    return saved, forward, counter.get_total_flops() - forward


@pytest.mark.parametrize(
    ("dtype", "kernel_saves"),
    [
        # flash (bf16): q, k, v, out; the log-sum-exp in fp32, one per query row; the RNG
        # state as the meta kernel makes it, a (2,) uint64 seed and a () uint64 offset
        (BF16, [((1, 2, 4), FP32), ((2,), U64), ((), U64)]),
        # memory-efficient (fp32): the log-sum-exp padded to 32 rows, int64 seed and offset
        (FP32, [((1, 2, 32), FP32), ((), I64), ((), I64)]),
    ],
)
def test_fused_attention_saves_and_computes_as_cuda(
    dtype: torch.dtype, kernel_saves: list[Any]
) -> None:
    saved, forward, backward = _attention_step("fused", dtype)
    qkv_out = [((1, 2, 4, 8), dtype), ((1, 2, 6, 8), dtype), ((1, 2, 6, 8), dtype)]
    expected = [*qkv_out, ((1, 2, 4, 8), dtype), *kernel_saves]
    assert sorted(saved, key=str) == sorted(expected, key=str)
    # forward: q k^T and p v; backward: scores recomputed, then four products (2.5x)
    assert (forward, backward) == (2 * PRODUCT, 5 * PRODUCT)


def test_math_attention_is_the_old_model() -> None:
    saved, forward, backward = _attention_step("math", BF16)
    assert (forward, backward) == (2 * PRODUCT, 4 * PRODUCT)  # backward twice the forward
    assert ((1, 2, 4, 6), FP32) in saved  # the whole attention matrix, in fp32


def test_predictions_by_hand(tiny: Config) -> None:
    result = dry_run(tiny, list(VARIANTS), torch.bfloat16)
    assert (result.dtype, result.attention) == ("bf16", "fused")
    records = {r.variant.name: r for r in result.records}
    serial = records["serial"]
    assert serial.case.key == "tiny-b2-f4-r64-bf16" and serial.case.device == "meta"
    assert serial.variant == VariantInfo("serial", "serial (AnimateDiff order)", "tab:blue", True)
    counts = parameter_counts(build_unet(tiny, "serial", device="meta"))
    assert serial.params == ParamCounts(**counts)
    # frozen weights in bf16 (2 B), trainable in fp32 (4 B); AdamW holds two fp32 moments
    assert serial.states == StateBytes(
        parameters=2 * counts["frozen"] + 4 * counts["trainable"],
        gradients=4 * counts["trainable"],
        optimizer=8 * counts["trainable"],
    )
    assert serial.ratio_to_baseline == {"flops": 1.0, "saved": 1.0, "states": 1.0, "peak": 1.0}
    # as backward begins, the weights, AdamW's moments and every saved tensor are alive
    assert serial.saved.bytes is not None and serial.peak is not None
    assert serial.peak >= 2 * counts["frozen"] + 12 * counts["trainable"] + serial.saved.bytes
    mobius = records["mobius"].ratio_to_baseline
    assert mobius["flops"] < 1 and mobius["saved"] < 1 and mobius["peak"] < 1
    ckpt = records["serial-ckpt"].ratio_to_baseline
    assert ckpt["saved"] < 1 < ckpt["flops"] and ckpt["states"] == 1.0 and ckpt["peak"] < 1
    assert DryRun.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_fused_attention_saves_less_than_math(tiny: Config) -> None:
    fused = dry_run(tiny, ["serial"], torch.bfloat16, "fused").records[0]
    math_ = dry_run(tiny, ["serial"], torch.bfloat16, "math").records[0]
    assert fused.saved.bytes is not None and math_.saved.bytes is not None
    assert fused.saved.bytes < math_.saved.bytes
    assert fused.flops.forward == math_.flops.forward
    assert fused.flops.backward is not None and math_.flops.backward is not None
    assert fused.flops.backward > math_.flops.backward  # the flash backward recomputes


def test_bf16_saves_less_than_fp32(tiny: Config) -> None:
    fp32 = dry_run(tiny, ["mobius"], torch.float32).records[0]
    bf16 = dry_run(tiny, ["mobius"], torch.bfloat16).records[0]
    assert fp32.saved.bytes is not None and bf16.saved.bytes is not None
    # activations halve, but fp32 attention takes the memory-efficient kernel, whose
    # log-sum-exp is padded to 32 rows: no bound of one half either way
    assert bf16.saved.bytes < fp32.saved.bytes
    assert bf16.flops == fp32.flops


class _NoBigCpuTensor(TorchDispatchMode):
    """Fails on any CPU tensor of `limit` elements or more, a factory's before it is made."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        size = args[0] if args and isinstance(args[0], list | tuple) else None
        on_cpu = torch.device(kwargs.get("device") or "cpu").type == "cpu"
        if on_cpu and size and all(isinstance(s, int) for s in size):
            assert math.prod(size) < self.limit, f"{func} would make a CPU tensor {size}"
        out = func(*args, **kwargs)
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor) and tensor.device.type == "cpu":
                assert tensor.numel() < self.limit, f"{func} made a CPU tensor {tensor.shape}"
        return out


def test_a_huge_batch_costs_no_memory() -> None:
    config = preset("tiny", batch=100_000)
    with _NoBigCpuTensor(limit=config.batch):
        record = dry_run(config, ["mobius"], torch.bfloat16).records[0]
    assert record.case.batch == 100_000 and record.saved.bytes and record.flops.total


def _record(
    name: str, baseline: bool, forward: int, saved: int, ratio: float, peak: int = 9 * 2**30
) -> DryRecord:
    return DryRecord(
        case=Case("tiny", 1, 4, 64, "bf16", "meta"),
        variant=VariantInfo(name, baseline=baseline),
        attention="fused",
        params=ParamCounts(trainable=1, frozen=1, total=2),
        flops=FlopsResult(
            total=3 * forward,
            forward=forward,
            backward=2 * forward,
            by_region={"forward": {"spatial": forward, "other": 0}, "backward": {"other": 0}},
        ),
        saved=SavedResult(bytes=saved),
        states=StateBytes(parameters=5 * 2**30, gradients=2**30, optimizer=2 * 2**30),
        ratio_to_baseline={"flops": ratio, "saved": ratio, "states": 1.0, "peak": ratio},
        peak=peak,
    )


def test_table_scales_its_units() -> None:
    result = DryRun(
        {},
        "bf16",
        "fused",
        [
            _record("serial", True, 2_500_000, 3 * 2**20, 1.0),
            _record("mobius", False, 0, 0, 0.5, 9 * 2**29),
        ],
    )
    head, _, serial, mobius = format_dry_run(result).splitlines()
    columns = [c.strip() for c in head.strip("|").split("|")]
    assert columns == [
        "variant",
        "fwd MFLOP",
        "bwd MFLOP",
        "step MFLOP",
        "x serial",
        "spatial MFLOP",
        "saved MiB",
        "x serial",
        "params GiB",
        "grads GiB",
        "optimizer GiB",
        "all states GiB",
        "x serial",
        "peak GiB",
        "x serial",
    ]  # fmt: skip  (no "other" column: no variant has FLOPs there)
    assert serial == "| serial | 2.5 | 5 | 7.5 | 1 | 2.5 | 3 | 1 | 5 | 1 | 2 | 8 | 1 | 9 | 1 |"
    assert mobius == "| mobius | 0 | 0 | 0 | 0.5 | 0 | 0 | 0.5 | 5 | 1 | 2 | 8 | 1 | 4.5 | 0.5 |"
    old = replace(_record("serial", True, 1, 1, 1.0), peak=None)  # written before the simulation
    assert "| peak (estimate) GiB |" in format_dry_run(DryRun({}, "bf16", "fused", [old]))
    assert scale(0, FLOP_UNITS) == ("FLOP", 1) and scale(999, FLOP_UNITS) == ("FLOP", 1)
    assert scale(1000, FLOP_UNITS) == ("kFLOP", 1e3)


def test_cli_prints_the_table_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dry.json"
    argv = ["dry-run", "--preset", "tiny", "--frames", "2", "--batch", "1", "--json", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].endswith("tiny, batch 1, 2 frames, 64 px, bf16, attention fused")
    assert "| serial |" in printed[3] and "x serial" in printed[1]
    assert printed[-1] == f"# wrote {out}"
    written = DryRun.from_dict(json.loads(out.read_text()))
    assert written.config["frames"] == 2 and written.attention == "fused"
    assert [r.variant.name for r in written.records] == list(VARIANTS)
    assert {r.case.key for r in written.records} == {"tiny-b1-f2-r64-bf16"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["dry-run", "--preset", "sd15", "--frames", "40"], "frames: 40 is above"),
        (["dry-run", "--resolution", "100"], "resolution: 100 is not divisible by the VAE"),
        (["dry-run", "--variants", "serial,parallel"], "--variants: unknown ['parallel']"),
        (["dry-run", "--dtype", "int8"], "dtype: unknown dtype 'int8'"),
    ],
)
def test_cli_bad_options(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mobius-bench: error: {message}") and err.count("\n") == 1


def test_cli_names_the_attention_models(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["dry-run", "--attention", "flash"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1
    assert "--attention: invalid choice: 'flash' (choose from 'fused', 'math')" in err


@pytest.mark.parametrize("existing", ["file", "parent is a file"])
def test_cli_checks_the_json_path_before_the_work(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    existing: str,
) -> None:
    def no_work(*args: object) -> None:
        raise AssertionError("the dry run ran before its output path was checked")

    monkeypatch.setattr("mobius_core.run.dryrun.dry_run", no_work)
    taken = tmp_path / "dry.json"
    taken.write_text("earlier results")
    out = taken if existing == "file" else taken / "dry.json"
    assert main(["dry-run", "--preset", "tiny", "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mobius-bench: error: ") and err.count("\n") == 1
    assert taken.read_text() == "earlier results"
