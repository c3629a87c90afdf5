"""Our models against diffusers itself: tiny random diffusers models, saved with
`save_pretrained` to a temporary folder and loaded back; no network."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

diffusers = pytest.importorskip("diffusers")

from diffusers_checkpoint import save_tiny_checkpoint  # noqa: E402

from mobius_core.interop import keys  # noqa: E402
from mobius_core.interop.load import from_diffusers, locate, read_weights  # noqa: E402
from mobius_core.models.config import Config, preset  # noqa: E402
from mobius_core.models.temporal import TemporalTransformer  # noqa: E402
from mobius_core.models.unet import UNet  # noqa: E402

FRAMES = 4


@pytest.fixture(scope="module")
def config() -> Config:
    return preset("tiny", batch=2, frames=FRAMES)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny layout's random diffusers UNet and MotionAdapter (non-zero out-projections)."""
    return save_tiny_checkpoint(tmp_path_factory.mktemp("diffusers"))


def inputs(config: Config) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    size = config.latent_size
    latents = torch.randn(config.batch, 4, FRAMES, size, size, generator=gen)  # (b, 4, f, h, w)
    context = torch.randn(config.batch, 77, config.context_dim, generator=gen)  # (b, 77, c)
    return latents, torch.tensor([10, 700]), context


def diffusers_per_frame(unet_dir: Path, latents, timesteps, context) -> torch.Tensor:
    """diffusers' 2D UNet on every frame alone: (b, 4, f, h, w) -> (b, 4, f, h, w)."""
    unet = diffusers.UNet2DConditionModel.from_pretrained(unet_dir)
    b, c, f, h, w = latents.shape
    frames = latents.transpose(1, 2).reshape(b * f, c, h, w)
    out = unet(frames, timesteps.repeat_interleave(f), context.repeat_interleave(f, 0)).sample
    return out.reshape(b, f, c, h, w).transpose(1, 2)


@torch.no_grad()
def test_unet2d_matches_unet2d_condition_model(config: Config, checkpoint) -> None:
    unet_dir, _ = checkpoint
    ours = UNet(config)
    state = keys.translate(
        read_weights(locate(unet_dir, "unet")), keys.invert(keys.unet2d_table(config))
    )
    ours.load_state_dict(state.state, strict=True)
    latents, timesteps, context = inputs(config)
    expected = diffusers_per_frame(unet_dir, latents, timesteps, context)
    torch.testing.assert_close(ours(latents, timesteps, context), expected, atol=1e-5, rtol=0)


@torch.no_grad()
def test_motion_module_matches_diffusers(config: Config, checkpoint) -> None:
    _, adapter_dir = checkpoint
    adapter = diffusers.MotionAdapter.from_pretrained(adapter_dir)
    theirs = adapter.down_blocks[1].motion_modules[0]  # 64 channels at tiny
    ours = TemporalTransformer(64, config.temporal_heads, config.groups, config.temporal_positions)
    inside = {k: keys.motion_name(k) for k in ours.state_dict()}
    ours.load_state_dict(keys.translate(theirs.state_dict(), keys.invert(inside)).state)
    x = torch.randn(config.batch * FRAMES, 64, 4, 4)  # ((b f), c, h, w)
    torch.testing.assert_close(ours(x, FRAMES), theirs(x, num_frames=FRAMES), atol=1e-5, rtol=0)


@torch.no_grad()
def test_serial_matches_unet_motion_model(config: Config, checkpoint) -> None:
    unet_dir, adapter_dir = checkpoint
    adapter = diffusers.MotionAdapter.from_pretrained(adapter_dir)
    assert all(m.proj_out.weight.abs().min() > 0 for m in adapter.down_blocks[0].motion_modules)
    theirs = diffusers.UNetMotionModel.from_unet2d(
        diffusers.UNet2DConditionModel.from_pretrained(unet_dir), adapter
    )
    ours = from_diffusers("serial", unet_dir, adapter_dir, config)
    latents, timesteps, context = inputs(config)
    expected = theirs(latents, timesteps, context.repeat_interleave(FRAMES, 0)).sample
    torch.testing.assert_close(ours(latents, timesteps, context), expected, atol=1e-5, rtol=0)
    peer = from_diffusers("diffusers-serial", unet_dir, adapter_dir, config)
    torch.testing.assert_close(peer(latents, timesteps, context), expected, atol=1e-5, rtol=0)


@torch.no_grad()
def test_mobius_from_checkpoint_is_the_per_frame_unet2d(config: Config, checkpoint) -> None:
    unet_dir, adapter_dir = checkpoint
    mobius = from_diffusers("mobius", unet_dir, adapter_dir, config)
    latents, timesteps, context = inputs(config)
    expected = diffusers_per_frame(unet_dir, latents, timesteps, context)
    torch.testing.assert_close(mobius(latents, timesteps, context), expected, atol=1e-5, rtol=0)
    adapter = diffusers.MotionAdapter.from_pretrained(adapter_dir)
    branch = mobius.branch.temporal[-1].proj_out.weight  # the last up position's module
    torch.testing.assert_close(branch, adapter.up_blocks[-1].motion_modules[-1].proj_out.weight)
