"""The suite's options: one-line usage errors (exit 4), the output path checked first, the
matrices, duplicates collapsed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mobius_core.errors import BadInput
from mobius_core.run.matrix import CPU_SHAPES, MATRICES, Options, cases, parse, variants

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
