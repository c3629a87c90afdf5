"""Every validation rule raises ValueError naming its field and rule; presets are valid."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mobius_core.models.config import PRESETS, preset


def test_sd15_preset_has_stable_diffusion_shapes() -> None:
    c = preset("sd15")
    assert c.block_channels == (320, 640, 1280, 1280)
    assert (c.layers_per_level, c.layers_per_up_level) == (2, 3)
    assert c.attention_levels == (True, True, True, False)
    assert (c.heads, c.context_dim, c.temporal_positions) == (8, 768, 32)
    assert c.downsampling == 8 and c.latent_size == 32


def test_with_shape_keeps_the_model_and_validates() -> None:
    c = preset("sd15").with_shape(frames=8, resolution=512, batch=4)
    assert (c.frames, c.latent_size, c.batch) == (8, 64, 4)
    assert c.block_channels == PRESETS["sd15"].block_channels
    with pytest.raises(ValueError, match=r"^with_shape: unknown shape field\(s\) \['heads'\]$"):
        preset("sd15").with_shape(heads=4)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"block_channels": ()}, r"^block_channels: must name at least one level$"),
        ({"block_channels": (320, -640, 1280, 1280)}, r"^block_channels\[1\]: must be positive"),
        ({"batch": 0}, r"^batch: must be positive, got 0$"),
        ({"frames": -1}, r"^frames: must be positive, got -1$"),
        ({"resolution": 0}, r"^resolution: must be positive, got 0$"),
        ({"heads": 0}, r"^heads: must be positive, got 0$"),
        ({"groups": 0}, r"^groups: must be positive, got 0$"),
        ({"layers_per_level": 0}, r"^layers_per_level: must be positive, got 0$"),
        ({"temporal_positions": 0}, r"^temporal_positions: must be positive, got 0$"),
        ({"context_dim": 0}, r"^context_dim: must be positive, got 0$"),
        (
            {"attention_levels": (True, True)},
            r"^attention_levels: needs one flag per level \(4\), got 2$",
        ),
        (
            {"block_channels": (320, 640, 1280, 1281)},
            r"^block_channels\[3\]: 1281 is odd; sinusoidal frame positions need even widths$",
        ),
        (
            {"block_channels": (320, 640, 1280, 1290)},
            r"^block_channels\[3\]: 1290 is not divisible by groups=32$",
        ),
        ({"heads": 3}, r"^heads: 3 does not divide the width 320 of level 0$"),
        ({"temporal_heads": 6}, r"^temporal_heads: 6 does not divide the width 320 of level 0$"),
        ({"frames": 33}, r"^frames: 33 is above temporal_positions=32$"),
        ({"resolution": 260}, r"^resolution: 260 is not divisible by the VAE factor 8$"),
        (
            {"resolution": 264},
            r"^resolution: latent size 33 \(= 264 / 8\) is not divisible by the UNet's total"
            r" downsampling 8$",
        ),
    ],
)
def test_each_rule_names_its_field(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(PRESETS["sd15"], **change)


def test_unknown_preset_is_named() -> None:
    with pytest.raises(ValueError, match=r"^preset: unknown preset 'sd21'; choose from"):
        preset("sd21")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_to_dict(name: str) -> None:
    c = PRESETS[name]
    assert replace(c, **c.to_dict()) == c
