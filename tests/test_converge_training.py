"""converge's training: the stage-1 cache (reused, rebuilt when missing, one line when
corrupt), matched data for runs and controls, and every variant starting at the 2D model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mobius_core.errors import BadInput
from mobius_core.models.config import preset
from mobius_core.training.converge import baseline_losses
from mobius_core.training.data import ShapeClips
from mobius_core.training.finetune import (
    Entry,
    FinetuneSettings,
    clip_batches,
    finetune,
    from_weights,
)
from mobius_core.training.levelling import Levelling
from mobius_core.training.pretrain import PretrainSettings, cache_path, pretrained
from mobius_core.training.validation import validation_set

CONFIG = preset("tiny", frames=2, resolution=64)
STAGE1 = PretrainSettings(Levelling(1, 2, 0.02, max_steps=1), batch=2, lr=1e-3, seed=0)


@pytest.fixture(scope="module")
def source() -> ShapeClips:
    return ShapeClips(CONFIG)


def test_cache_is_written_reused_and_rebuilt(tmp_path: Path, source: ShapeClips) -> None:
    valset = validation_set(source, clips=4, pairs=1)
    path = cache_path(tmp_path, CONFIG, source, STAGE1)
    assert path.name.startswith("unet2d-tiny-f2-r64-shapes-v2-seed0-")
    first, log = pretrained(tmp_path, CONFIG, source, valset, STAGE1)
    assert path.is_file() and not log.cached and log.steps_run == 1
    again, log = pretrained(tmp_path, CONFIG, source, valset, STAGE1)
    assert log.cached and log.steps_run == 1 and len(log.check_loss) == 1
    assert all(torch.equal(first[k], again[k]) for k in first)
    path.unlink()  # missing: rebuilt, the same weights from the same seed
    rebuilt, log = pretrained(tmp_path, CONFIG, source, valset, STAGE1)
    assert not log.cached and all(torch.equal(first[k], rebuilt[k]) for k in first)


def test_corrupt_cache_is_one_line(tmp_path: Path, source: ShapeClips) -> None:
    valset = validation_set(source, clips=4, pairs=1)
    path = cache_path(tmp_path, CONFIG, source, STAGE1)
    path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(BadInput, match="corrupt stage-1 cache") as error:
        pretrained(tmp_path, CONFIG, source, valset, STAGE1)
    assert "\n" not in str(error.value) and "delete it" in str(error.value)


def test_control_gets_the_runs_timesteps_and_noise(source: ShapeClips) -> None:
    settings = FinetuneSettings(steps=2, batch=2, lr=1e-3, eval_every=1)
    run = list(clip_batches(source, 0, True, settings))
    control = list(clip_batches(source, 0, False, settings))
    other = list(clip_batches(source, 1, True, settings))
    for a, b in zip(run, control, strict=True):
        assert torch.equal(a.timesteps, b.timesteps) and torch.equal(a.noise, b.noise)
        assert not torch.equal(a.latents, b.latents)
    assert not torch.equal(run[0].noise, other[0].noise)  # seeds differ
    again = clip_batches(source, 0, True, settings)
    assert all(torch.equal(a.latents, b.latents) for a, b in zip(run, again, strict=True))


def test_every_variant_starts_at_the_2d_model(source: ShapeClips) -> None:
    """Zero-initialised temporal outputs: step 0's validation loss is the frozen 2D model's."""
    valset = validation_set(source, clips=4, pairs=1)
    torch.manual_seed(0)
    weights = {
        k: v + 0.01 * torch.randn_like(v)  # not the seeded init: a trained-looking trunk
        for k, v in pretrained_weights().items()
    }
    base = baseline_losses(CONFIG, weights, source, valset, "cpu", torch.float32)
    settings = FinetuneSettings(steps=1, batch=1, lr=1e-3, eval_every=1)
    for variant in ("serial", "serial-ckpt", "mobius"):
        curve = finetune(
            CONFIG, Entry(variant), from_weights(weights), source, valset, settings, seed=0
        )
        assert curve.eval_steps == [0, 1] and len(curve.train_loss) == 1
        assert curve.eval_loss[0] == pytest.approx(base.overall, rel=1e-5)
        assert curve.eval_high[0] == pytest.approx(base.high, rel=1e-5)
        assert curve.eval_loss[1] != curve.eval_loss[0]  # and the step changed it


def pretrained_weights() -> dict[str, torch.Tensor]:
    from mobius_core.models.variants import build_unet2d

    torch.manual_seed(0)
    return build_unet2d(CONFIG).state_dict()
