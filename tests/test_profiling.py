"""The profile of `tiny` on CPU: a valid trace with the marked ranges, consistent tables,
the memory timeline, and one-line errors for bad options; and, from synthetic CUDA events,
ranges counted once though each also appears as a GPU-side annotation."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.autograd import DeviceType
from torch.autograd.profiler_util import EventList, FunctionEvent

from mobius_core.cli import main
from mobius_core.measure import regions
from mobius_core.models.config import preset
from mobius_core.models.variants import build_matched
from mobius_core.run.profile_report import timeline_plot, write_profile
from mobius_core.run.profiling import (
    PHASES,
    REGIONS,
    STEP,
    phase_name,
    profile_variant,
    quiet_kineto,
    region_name,
    summarise,
)
from mobius_core.training.step import make_batch

CONFIG = preset("tiny", frames=2)


@pytest.fixture(scope="module")
def profiled(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("profile")
    models = build_matched(CONFIG, ["serial-ckpt", "mobius"])
    batch = make_batch(CONFIG)
    results = {
        v: profile_variant(v, m, batch, torch.float32, "cpu", 2, 1, folder)
        for v, m in models.items()
    }
    return {"folder": folder, "results": results}


def _trace(folder: Path, name: str) -> dict:
    path = folder / name
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt") as handle:
        return json.load(handle)


def test_trace_is_json_with_the_marked_ranges(profiled: dict) -> None:
    for variant, (result, _) in profiled["results"].items():
        trace = _trace(profiled["folder"], result.files[0])
        names = {event.get("name") for event in trace["traceEvents"]}
        assert {STEP, *(phase_name(p) for p in PHASES)} <= names, variant
        assert {region_name("spatial"), region_name("temporal")} <= names, variant
    mobius_trace = _trace(profiled["folder"], profiled["results"]["mobius"][0].files[0])
    names = {event.get("name") for event in mobius_trace["traceEvents"]}
    assert region_name("bridges+fusion") in names


def test_phases_fill_the_step_and_regions_are_the_tracker_s(profiled: dict) -> None:
    for result, _ in profiled["results"].values():
        assert all(ms >= 0 for ms in result.phases_ms.values())
        assert set(result.regions_ms) == set(regions.REGIONS)  # one set of names everywhere
        assert sum(result.phases_ms.values()) == pytest.approx(result.step_ms, rel=0.10)
        inside = sum(ms for r, ms in result.regions_ms.items() if r != "other")
        assert 0 < inside <= result.phases_ms["forward"]
        assert result.top_ops and result.top_ops[0]["self CPU ms"] > 0
    mobius = profiled["results"]["mobius"][0]
    assert mobius.regions_ms["bridges+fusion"] > 0 and mobius.regions_ms["temporal"] > 0
    assert mobius.saved_by_region is not None and mobius.saved_by_region["spatial"] == 0
    assert mobius.kernel_ms is None and mobius.bound is None  # no GPU here


def test_memory_timeline_spans_the_phases(profiled: dict, tmp_path: Path) -> None:
    timelines = {v: line for v, (_, line) in profiled["results"].items()}
    for line in timelines.values():
        assert set(line["spans"]) == set(PHASES)
        assert len(line["times_ms"]) == len(line["bytes"]) > 1
        assert line["times_ms"] == sorted(line["times_ms"])
        assert max(line["bytes"]) > 0  # the forward allocates what backward needs
    timeline_plot(timelines, tmp_path / "timeline.png")
    assert (tmp_path / "timeline.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_writes_the_profile(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "profile"
    argv = [
        "profile",
        "--preset",
        "tiny",
        "--frames",
        "2",
        "--variants",
        "mobius",
        "--steps",
        "1",
        "--warmup",
        "0",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    text = (out / "profile.md").read_text()
    for name in (*PHASES, *REGIONS, "other", "Top operators", "saved for backward"):
        assert name in text
    assert any(p.name.startswith("mobius-trace.json") for p in out.iterdir())
    assert "USDT" not in capfd.readouterr().err  # kineto's lines, written to fd 2


def test_quiet_kineto_drops_only_kineto_s_lines(capfd: pytest.CaptureFixture[str]) -> None:
    with quiet_kineto():
        os.write(2, b"USDT:2026-01-01 1:1 SyncActivityProfilerHandler.cpp:52] profiler_start\n")
        os.write(2, b"a warning worth seeing\n")
    assert capfd.readouterr().err == "a warning worth seeing\n"


def test_a_variant_named_twice_is_profiled_once(tmp_path: Path) -> None:
    files = write_profile(CONFIG, ["mobius", "mobius"], "cpu", torch.float32, 1, 0, tmp_path)
    assert "profile.md" in files and (tmp_path / "profile.md").read_text().count("## mobius") == 1


def _event(name: str, start: float, end: float, gpu: bool = False, note: bool = False) -> Any:
    """A profiler event; `note`: a user annotation (a `record_function` range)."""
    device = DeviceType.CUDA if gpu else DeviceType.CPU
    return FunctionEvent(
        0,
        name,
        1,
        start,
        end,
        stack=[],
        use_device="cuda",
        device_type=device,
        is_user_annotation=note,
    )


def _cuda_profile() -> EventList:
    """One step as kineto reports it on CUDA: every range on the CPU and again as a GPU-side
    annotation spanning its kernels; the CPU range's kernels include its own annotation."""
    cpu = {
        name: _event(name, start, end, note=name.startswith("mobius/"))
        for name, start, end in [
            (STEP, 0, 1000),
            (phase_name("forward"), 0, 400),
            (region_name("temporal"), 100, 300),
            (phase_name("backward"), 400, 900),
            (phase_name("optimizer"), 900, 1000),
        ]
    }
    recompute = _event(region_name("temporal"), 600, 650, note=True)  # checkpointing
    forward_mm, backward_mm = _event("aten::mm", 150, 200), _event("aten::mm", 500, 550)
    forward_mm.append_kernel("gemm", 0, 80)
    backward_mm.append_kernel("gemm", 0, 120)
    cpu[phase_name("forward")].append_kernel(phase_name("forward"), 0, 380)
    cpu[region_name("temporal")].append_kernel(region_name("temporal"), 0, 130)
    gpu = [
        _event(STEP, 10, 990, gpu=True, note=True),
        _event(phase_name("forward"), 10, 390, gpu=True, note=True),
        _event(region_name("temporal"), 160, 290, gpu=True, note=True),
        _event(phase_name("backward"), 500, 640, gpu=True, note=True),
        _event("gemm", 170, 250, gpu=True),
        _event("gemm", 510, 630, gpu=True),
    ]
    events = EventList([*cpu.values(), recompute, forward_mm, backward_mm, *gpu], use_device="cuda")
    events._build_tree()  # as the profiler does before handing its events out
    return events


def test_cuda_ranges_count_once_and_annotations_are_not_kernels() -> None:
    # Hand-worked from `_cuda_profile` (us): step 1000, forward 400, backward 500, optimizer
    # 100; temporal 200 inside the forward (the range at 600 is a recomputation in backward);
    # other = 400 - 200. Kernels: 80 (forward, temporal) + 120 (backward) = 200 per step.
    result = summarise(_cuda_profile(), "serial", 1, "cuda")
    assert result.step_ms == pytest.approx(1.0)
    assert result.phases_ms == pytest.approx({"forward": 0.4, "backward": 0.5, "optimizer": 0.1})
    assert result.regions_ms == pytest.approx(
        {"spatial": 0.0, "temporal": 0.2, "bridges+fusion": 0.0, "other": 0.2}
    )
    assert result.kernel_ms == pytest.approx(0.2) and result.kernel_ratio == pytest.approx(0.2)
    assert result.bound == "launch-bound"
    assert result.phases_kernel_ms == pytest.approx(
        {"forward": 0.08, "backward": 0.12, "optimizer": 0.0}
    )
    assert result.regions_kernel_ms == pytest.approx(
        {"spatial": 0.0, "temporal": 0.08, "bridges+fusion": 0.0}
    )
    assert {op["operator"] for op in result.top_ops} == {"aten::mm", "gemm"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--steps", "0"], "--steps: need at least 1 step"),
        (["--variants", "mobius,fast"], "--variants: unknown ['fast']"),
        (["--frames", "99"], "frames: 99 is above temporal_positions=8"),
        (["--device", "cuda"], "device: cuda was asked for but no CUDA GPU is present"),
    ],
)
def test_bad_options(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(["profile", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mobius-bench: error: {message}") and err.count("\n") == 1
