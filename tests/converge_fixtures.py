"""What the converge tests share: the parser, a toy budget (2 frames, one step of each stage,
a 4-clip validation set) and a tiny diffusers checkpoint. A test module imports the fixture
functions (`toy_options`, `tiny_checkpoint`); its tests take them as `toy`, `checkpoint`."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from mobius_core.run import cmd_converge


def parse(*argv: str) -> argparse.Namespace:
    """`mobius-bench converge` options, parsed."""
    parser = argparse.ArgumentParser()
    cmd_converge.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture(name="toy")
def toy_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Options for a run of seconds, its stage-1 cache in `tmp_path / "cache"`; a later
    `--variants` (or any option) given after them wins."""
    monkeypatch.setattr(cmd_converge, "VAL_CLIPS", 4)
    monkeypatch.setattr(cmd_converge, "VAL_PAIRS", 1)
    monkeypatch.setattr(cmd_converge, "PRETRAIN_BATCH", 2)
    return [
        "--frames", "2", "--batch", "1", "--seeds", "2", "--steps", "1", "--eval-every", "1",
        "--pretrain-steps", "1", "--variants", "mobius", "--device", "cpu",
        "--cache", str(tmp_path / "cache"),
    ]  # fmt: skip


@pytest.fixture(name="checkpoint", scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny random diffusers UNet and MotionAdapter (out-projections not zero): folders."""
    pytest.importorskip("diffusers")
    from diffusers_checkpoint import save_tiny_checkpoint

    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))
