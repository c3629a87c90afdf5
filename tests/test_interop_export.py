"""Motion modules out: a MotionAdapter exported from a CPU run loads in diffusers and
gives our output."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

diffusers = pytest.importorskip("diffusers")

from mobius_core.errors import BadInput  # noqa: E402
from mobius_core.interop import cmd_export_motion, configs, keys  # noqa: E402
from mobius_core.interop.export import save_checkpoint  # noqa: E402
from mobius_core.models.config import Config, preset  # noqa: E402
from mobius_core.models.variants import build_matched  # noqa: E402
from mobius_core.training.step import make_batch, make_optimizer, train_step  # noqa: E402


def export(source: Path, out: Path, variant: str | None = None) -> int:
    parser = argparse.ArgumentParser()
    cmd_export_motion.add_arguments(parser)
    argv = [str(source), "--out", str(out)] + (["--variant", variant] if variant else [])
    return cmd_export_motion.run(parser.parse_args(argv))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, Path, dict]:
    """A CPU run: serial and mobius, three matched steps each, saved as checkpoints."""
    config = preset("tiny", batch=1, frames=4)
    folder = tmp_path_factory.mktemp("run")
    models = build_matched(config, ["serial", "mobius"])
    batch = make_batch(config)
    for name, model in models.items():
        optimizer = make_optimizer(model, lr=1e-2)
        for _ in range(3):
            train_step(model, optimizer, batch)
        save_checkpoint(model, name, config, folder / f"{name}.safetensors")
    return config, folder, models


@torch.no_grad()
def test_serial_export_gives_our_output_in_unet_motion_model(run, tmp_path: Path) -> None:
    config, folder, models = run
    assert export(folder, tmp_path / "adapter", "serial") == 0
    adapter = diffusers.MotionAdapter.from_pretrained(tmp_path / "adapter")
    assert adapter.up_blocks[0].motion_modules[0].proj_out.weight.abs().max() > 0  # trained
    unet2d = diffusers.UNet2DConditionModel(**configs.unet_config(config))
    serial = models["serial"]
    spatial = keys.translate(serial.state_dict(), keys.unet2d_table(config))
    unet2d.load_state_dict(spatial.state, strict=True)
    theirs = diffusers.UNetMotionModel.from_unet2d(unet2d, adapter)
    batch = make_batch(config, seed=3)
    frames = config.frames
    expected = theirs(batch.latents, batch.timesteps, batch.context.repeat_interleave(frames, 0))
    ours = serial(batch.latents, batch.timesteps, batch.context)
    torch.testing.assert_close(ours, expected.sample, atol=1e-5, rtol=0)


def test_mobius_export_holds_its_branch_modules(run, tmp_path: Path) -> None:
    _, folder, models = run
    export(folder / "mobius.safetensors", tmp_path / "adapter")
    adapter = diffusers.MotionAdapter.from_pretrained(tmp_path / "adapter")
    branch = models["mobius"].branch.temporal
    torch.testing.assert_close(
        adapter.mid_block.motion_modules[0].proj_out.bias, branch[2].proj_out.bias
    )
    torch.testing.assert_close(
        adapter.up_blocks[1].motion_modules[1].norm.weight, branch[6].norm.weight
    )


def test_export_refuses_what_it_cannot_use(run, tmp_path: Path) -> None:
    _, folder, _ = run
    with pytest.raises(BadInput, match="need one checkpoint"):
        export(folder, tmp_path / "a")  # two checkpoints, no --variant
    with pytest.raises(BadInput, match="exists already"):
        export(folder, folder, "serial")
    assert not (tmp_path / "a").exists()
