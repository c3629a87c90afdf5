"""The profile of `tiny` on CPU: a valid trace with the marked ranges, tables that add up,
the memory timeline, and one-line errors for bad options."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import torch

from mobius_core.cli import main
from mobius_core.models.config import preset
from mobius_core.models.variants import build_matched
from mobius_core.run.profile_report import timeline_plot
from mobius_core.run.profiling import (
    PHASES,
    REGIONS,
    STEP,
    phase_name,
    profile_variant,
    region_name,
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
    assert {region_name("bridges"), region_name("fusion")} <= names


def test_phases_and_regions_add_up(profiled: dict) -> None:
    for result, _ in profiled["results"].values():
        assert all(ms >= 0 for ms in result.phases_ms.values())
        assert all(ms >= 0 for ms in result.regions_ms.values())
        assert set(result.regions_ms) == {*REGIONS, "other"}
        assert sum(result.phases_ms.values()) == pytest.approx(result.step_ms, rel=0.10)
        assert sum(result.regions_ms.values()) == pytest.approx(
            result.phases_ms["forward"], rel=0.01
        )
        assert result.top_ops and result.top_ops[0]["self CPU ms"] > 0
    mobius = profiled["results"]["mobius"][0]
    assert mobius.regions_ms["bridges"] > 0 and mobius.regions_ms["fusion"] > 0
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


def test_cli_writes_the_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
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


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--steps", "0"], "steps: need at least 1 step"),
        (["--variants", "mobius,fast"], "variants: unknown ['fast']"),
        (["--frames", "99"], "frames: 99 is above temporal_positions=8"),
        (["--device", "cuda"], "device: cuda was asked for but no CUDA GPU is present"),
    ],
)
def test_bad_options(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(["profile", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mobius-bench: error: {message}") and err.count("\n") == 1
