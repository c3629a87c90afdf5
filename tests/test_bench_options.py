"""The suite's options: one-line usage errors (exit 4), the output path checked first, the
matrices, duplicates collapsed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from mobius_core.errors import BadInput
from mobius_core.run.case import config
from mobius_core.run.matrix import CPU_SHAPES, MATRICES, Options, cases, parse, plan, variants
from mobius_core.run.session import group

ROOT = Path(__file__).resolve().parents[1]


def collect(*options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "bench/", "--collect-only", "-q", *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--frames", "four"], "ERROR: --frames: expected whole numbers, got 'four'"),
        (["--batch", "0"], "ERROR: --batch: must be positive, got '0'"),
        (["--preset", "tiny", "--frames", "99"], "ERROR: frames: 99 is above temporal_positions=8"),
        (["--variants", "serial,fast"], "ERROR: --variants: unknown ['fast']"),
        (["--device", "cuda"], "ERROR: device: cuda was asked for but no CUDA GPU is present"),
    ],
)
def test_bad_option_is_one_line(option: list[str], message: str) -> None:
    done = collect(*option)
    assert done.returncode == 4
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [message] or lines[-1].startswith(message), done.stderr


def test_an_existing_benchmark_json_is_refused_and_kept(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    out.write_text("{}")
    done = collect("--benchmark-json", str(out))
    assert done.returncode == 4
    assert done.stderr.strip() == f"ERROR: {out}: exists already; choose a new path"
    assert out.read_text() == "{}"


def test_a_missing_parent_of_the_benchmark_json_is_made(tmp_path: Path) -> None:
    out = tmp_path / "new" / "run.json"
    assert collect("--benchmark-json", str(out)).returncode == 0
    assert out.parent.is_dir()


def test_default_cpu_matrix() -> None:
    matrix = cases(Options(device="cpu"))
    assert [(c.preset, c.batch, c.frames, c.resolution) for c in matrix] == CPU_SHAPES
    assert {c.dtype for c in matrix} == {"fp32"}
    # the built-in variants first; interop may register more (diffusers-serial)
    assert variants(Options(device="cpu"))[:3] == ["serial", "serial-ckpt", "mobius"]


def test_options_narrow_the_matrix() -> None:
    matrix = cases(Options(device="cpu", preset="small", frames=(4, 8), rounds=3, warmup=0))
    assert [(c.preset, c.batch, c.frames, c.resolution) for c in matrix] == [
        ("small", 1, 4, 128),
        ("small", 1, 8, 128),
    ]
    assert {(c.rounds, c.warmup) for c in matrix} == {(3, 0)}
    cuda = cases(Options(device="cuda"))
    assert len(cuda) == 8 and {c.dtype for c in cuda} == {"bf16"}


def test_the_claim_matrix_is_sd15_16_frames_256_px_batch_1_and_4() -> None:
    claim = cases(Options(device="cuda", matrix="claim"))
    assert [(c.preset, c.batch, c.frames, c.resolution) for c in claim] == [
        ("sd15", 1, 16, 256),
        ("sd15", 4, 16, 256),
    ]
    assert cases(Options(device="cuda", matrix="full")) == cases(Options(device="cuda"))
    assert set(MATRICES) == {"claim", "full"}
    with pytest.raises(BadInput, match=r"^--matrix: claim is a CUDA matrix"):
        parse({"device": "cpu", "matrix": "claim"})


def test_repeated_values_collapse_with_a_note(capsys: pytest.CaptureFixture[str]) -> None:
    options = parse({"device": "cpu", "batch": "1,1", "variants": "serial,serial"})
    assert options.batch == (1,) and options.variants == ("serial",)
    assert "repeated values dropped" in capsys.readouterr().err
    assert len(cases(options)) == 2  # tiny and small at batch 1, once each


def test_rejoin_cases_run_mobius_double_beside_the_baseline() -> None:
    options = parse({"preset": "tiny", "frames": "4", "batch": "1", "rejoin": "0,2"})
    chosen = plan(options)
    keys = {c.key: names for c, names in chosen.items()}
    assert keys["tiny-b1-f4-r64-fp32"] == variants(options)  # the preset's own depth: all
    assert keys["tiny-b1-f4-r64-fp32-k0"] == ["serial", "mobius-double"]
    assert keys["tiny-b1-f4-r64-fp32-k2"] == ["serial", "mobius-double"]
    assert [config(c).rejoin_positions for c in chosen] == [None, 0, 2]


def test_models_are_shared_only_within_one_rejoin_depth() -> None:
    base, k0, k2 = plan(parse({"preset": "tiny", "frames": "4", "batch": "1", "rejoin": "0,2"}))
    assert len({group(base), group(k0), group(k2)}) == 3


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"rejoin": "1", "variants": "serial,mobius"}, "--rejoin: sets mobius-double's depth"),
        ({"rejoin": "99", "preset": "tiny"}, "rejoin_positions: 99 is outside 0..4"),
        ({"rejoin": "-1"}, "--rejoin: must be at least 0"),
        ({"mode": "jit"}, "--mode: unknown mode 'jit'"),
        ({"compile-mode": "max-autotune"}, "--compile-mode: needs --mode compile"),
        ({"motion-adapter": "x"}, "--motion-adapter needs --unet"),
    ],
)
def test_bad_setting_is_named(values: dict[str, str], message: str) -> None:
    with pytest.raises(BadInput, match=re.escape(message)):
        plan(parse(values))
