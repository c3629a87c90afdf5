"""Bad options to the benchmark suite: pytest's one-line usage error, exit status 4."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mobius_core.run.matrix import CPU_SHAPES, Options, cases, variants

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--frames", "four"], "ERROR: --frames: expected whole numbers, got 'four'"),
        (["--batch", "0"], "ERROR: --batch: must be positive, got '0'"),
        (["--preset", "tiny", "--frames", "99"], "ERROR: frames: 99 is above temporal_positions=8"),
        (["--variants", "serial,fast"], "ERROR: variants: unknown ['fast']"),
        (["--device", "cuda"], "ERROR: device: cuda was asked for but no CUDA GPU is present"),
    ],
)
def test_bad_option_is_one_line(option: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "bench/", "--collect-only", "-q", *option],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 4
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [message] or lines[-1].startswith(message), done.stderr


def test_default_cpu_matrix() -> None:
    matrix = cases(Options(device="cpu"))
    assert [(c.preset, c.batch, c.frames, c.resolution) for c in matrix] == CPU_SHAPES
    assert {c.dtype for c in matrix} == {"fp32"}
    assert variants(Options(device="cpu")) == ["serial", "serial-ckpt", "mobius"]


def test_options_narrow_the_matrix() -> None:
    matrix = cases(Options(device="cpu", preset="small", frames=[4, 8], rounds=3, warmup=0))
    assert [(c.preset, c.batch, c.frames, c.resolution) for c in matrix] == [
        ("small", 1, 4, 128),
        ("small", 1, 8, 128),
    ]
    assert {(c.rounds, c.warmup) for c in matrix} == {(3, 0)}
    cuda = cases(Options(device="cuda"))
    assert len(cuda) == 8 and {c.dtype for c in cuda} == {"bf16"}
