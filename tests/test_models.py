"""Shapes, parameter counts worked out by hand, weight sharing and identity at init."""

from __future__ import annotations

import pytest
import torch

from mobius_core.models.config import Config, preset
from mobius_core.models.variants import (
    BUILT_IN,
    build_unet,
    build_unet2d,
    load_spatial_weights,
    parameter_counts,
    spec,
)
from mobius_core.training.step import Batch

# -- hand-worked parameter counts (weights + biases; GroupNorm/LayerNorm have 2C) --
CTX = 768


def resblock(cin: int, cout: int, emb: int = 1280) -> int:
    shortcut = cin * cout + cout if cin != cout else 0
    return (
        2 * cin
        + (9 * cin * cout + cout)
        + (emb * cout + cout)
        + 2 * cout
        + (9 * cout * cout + cout)
        + shortcut
    )


def spatial_transformer(c: int) -> int:
    norms = 2 * c + 3 * 2 * c  # GroupNorm + three LayerNorms
    projections = 2 * (c * c + c)  # 1x1 conv in and out
    self_attn = 3 * c * c + (c * c + c)  # q, k, v without bias; out with bias
    cross_attn = c * c + 2 * CTX * c + (c * c + c)
    geglu = (c * 8 * c + 8 * c) + (4 * c * c + c)
    return norms + projections + self_attn + cross_attn + geglu


def motion_module(c: int) -> int:
    norms = 2 * c + 2 * (2 * c) + 2 * c  # GroupNorm, a LayerNorm per attention, ff LayerNorm
    projections = 2 * (c * c + c)
    attentions = 2 * (4 * c * c + c)
    geglu = (c * 8 * c + 8 * c) + (4 * c * c + c)
    return norms + projections + attentions + geglu  # = 22 c^2 + 21 c


def conv3(cin: int, cout: int) -> int:
    return 9 * cin * cout + cout


SD15_UNET2D = (
    # time embedding, conv_in
    (320 * 1280 + 1280) + (1280 * 1280 + 1280) + conv3(4, 320)
    # down: (resblock + transformer) x2 per level, stride-2 conv between levels
    + 2 * (resblock(320, 320) + spatial_transformer(320)) + conv3(320, 320)
    + resblock(320, 640) + resblock(640, 640) + 2 * spatial_transformer(640) + conv3(640, 640)
    + resblock(640, 1280) + resblock(1280, 1280) + 2 * spatial_transformer(1280)
    + conv3(1280, 1280)
    + 2 * resblock(1280, 1280)
    # mid: resblock, transformer, resblock
    + 2 * resblock(1280, 1280) + spatial_transformer(1280)
    # up: inputs are the previous output concatenated with a skip
    + 3 * resblock(2560, 1280) + conv3(1280, 1280)
    + 2 * resblock(2560, 1280) + resblock(1920, 1280) + 3 * spatial_transformer(1280)
    + conv3(1280, 1280)
    + resblock(1920, 640) + resblock(1280, 640) + resblock(960, 640)
    + 3 * spatial_transformer(640) + conv3(640, 640)
    + resblock(960, 320) + 2 * resblock(640, 320) + 3 * spatial_transformer(320)
    # conv_norm_out, conv_out
    + 2 * 320 + conv3(320, 4)
)  # fmt: skip
# motion modules: 2 per down level, 1 in the mid block, 3 per up level
SD15_TEMPORAL = (
    2 * motion_module(320) + 2 * motion_module(640) + 4 * motion_module(1280)
    + motion_module(1280)
    + 6 * motion_module(1280) + 3 * motion_module(640) + 3 * motion_module(320)
)  # fmt: skip
# bridges project channels where they change: 320->640, 640->1280 down; 1280->640, 640->320 up
SD15_BRIDGES = (320 * 640 + 640) + (640 * 1280 + 1280) + (1280 * 640 + 640) + (640 * 320 + 320)
SD15_FUSION = 2 * 320 + conv3(320, 4)


def test_sd15_parameter_counts_on_meta() -> None:
    c = preset("sd15")
    # Stable Diffusion 1.5's published UNet size, and AnimateDiff's 21 motion modules.
    assert SD15_UNET2D == 859_520_964
    assert motion_module(320) == 22 * 320**2 + 21 * 320
    with torch.device("meta"):
        assert parameter_counts(build_unet2d(c))["total"] == SD15_UNET2D
    expected = {
        "serial": SD15_TEMPORAL,
        "serial-ckpt": SD15_TEMPORAL,
        "mobius": SD15_TEMPORAL + SD15_BRIDGES + SD15_FUSION,
    }
    for variant, trainable in expected.items():
        model = build_unet(c, variant, device="meta")
        counts = parameter_counts(model)
        assert counts == {
            "trainable": trainable,
            "frozen": SD15_UNET2D,
            "total": trainable + SD15_UNET2D,
        }
    assert expected["mobius"] / expected["serial"] - 1 < 0.05


def test_positions_follow_the_unet() -> None:
    sd15 = build_unet(preset("sd15"), "serial", device="meta")
    layout = [(p.channels, p.scale) for p in sd15.positions()]
    assert layout == (
        [(320, 1)] * 2 + [(640, 2)] * 2 + [(1280, 4)] * 2 + [(1280, 8)] * 2
        + [(1280, 8)]
        + [(1280, 8)] * 3 + [(1280, 4)] * 3 + [(640, 2)] * 3 + [(320, 1)] * 3
    )  # fmt: skip


@pytest.mark.parametrize("variant", list(BUILT_IN))
def test_output_shape(models: dict, batch: Batch, tiny: Config, variant: str) -> None:
    out = models[variant](batch.latents, batch.timesteps, batch.context)
    c = tiny
    assert out.shape == (c.batch, 4, c.frames, c.latent_size, c.latent_size)


@pytest.mark.parametrize("variant", list(BUILT_IN))
def test_initial_variant_is_the_per_frame_2d_unet(tiny: Config, batch: Batch, variant: str) -> None:
    torch.manual_seed(0)
    unet2d = build_unet2d(tiny)
    model = build_unet(tiny, variant)
    load_spatial_weights(model, variant, unet2d.state_dict())
    with torch.no_grad():
        expected = torch.stack(  # the 2D UNet on each frame alone
            [
                unet2d.run(batch.latents[:, :, f], batch.timesteps, batch.context, frames=1)
                for f in range(tiny.frames)
            ],
            dim=2,
        )
        got = model(batch.latents, batch.timesteps, batch.context)
    assert (got - expected).abs().max().item() <= 1e-5


@pytest.mark.parametrize("variant", list(BUILT_IN))
def test_2d_state_dict_loads_under_the_same_names(tiny: Config, variant: str) -> None:
    unet2d = build_unet2d(tiny)
    model = build_unet(tiny, variant)
    load_spatial_weights(model, variant, unet2d.state_dict())
    spatial = spec(variant).spatial(model)
    loaded = spatial.state_dict()
    for name, weight in unet2d.state_dict().items():
        assert torch.equal(loaded[name], weight), name
    extra = set(loaded) - set(unet2d.state_dict())
    if spatial is not model:  # mobius's trunk is exactly the 2D UNet
        assert not extra
    else:  # the serial layers hold the motion modules beside the 2D names
        assert extra and all(".temporal." in name for name in extra)


def test_foreign_state_dict_is_refused(tiny: Config) -> None:
    model = build_unet(tiny, "serial")
    weights = build_unet2d(tiny).state_dict()
    weights["not.a.layer"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"^state dict: keys the model lacks: \['not.a.layer'\]"):
        load_spatial_weights(model, "serial", weights)
    del weights["not.a.layer"], weights["conv_in.weight"]
    with pytest.raises(ValueError, match=r"^state dict: frozen weights missing: \['conv_in.w"):
        load_spatial_weights(model, "serial", weights)


def test_unknown_variant_is_named(tiny: Config) -> None:
    with pytest.raises(ValueError, match=r"^variant: unknown variant 'parallel'; choose from"):
        build_unet(tiny, "parallel")


def test_fold_frames_repeats_each_clip_per_frame_without_an_index() -> None:
    """`(b, c, f, h, w)` -> `((b f), ...)`; timesteps and context repeated per frame, and no
    index op in the jit trace fvcore takes (on CUDA it would index from the CPU: pytorch#107591).
    """
    from mobius_core.models.unet import fold_frames

    latents = torch.arange(2 * 1 * 3 * 1 * 1.0).reshape(2, 1, 3, 1, 1)  # clip 0: 0 1 2; 1: 3 4 5
    timesteps, context = torch.tensor([5, 7]), torch.tensor([[[1.0]], [[2.0]]])  # (2,), (2, 1, 1)
    x, t, ctx = fold_frames(latents, timesteps, context)
    assert x.flatten().tolist() == [0, 1, 2, 3, 4, 5]
    assert t.tolist() == [5, 5, 5, 7, 7, 7]
    assert ctx.flatten().tolist() == [1, 1, 1, 2, 2, 2]
    graph = str(torch.jit.trace(fold_frames, (latents, timesteps, context)).graph)
    assert "repeat_interleave" not in graph and "index" not in graph
