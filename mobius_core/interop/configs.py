"""Our `Config` <-> diffusers' config dicts (`UNet2DConditionModel`, `MotionAdapter`).

Reading a checkpoint's config validates it: a layout we do not build (SDXL, SD 2.x's
linear projections, another block layout) is bad input, named in one line.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mobius_core.errors import BadInput
from mobius_core.models.config import PRESETS, Config

CROSS_DOWN, PLAIN_DOWN = "CrossAttnDownBlock2D", "DownBlock2D"
CROSS_UP, PLAIN_UP = "CrossAttnUpBlock2D", "UpBlock2D"
# A UNet config field -> the value our UNet builds, and the layout another value suggests.
_UNET_FIXED: dict[str, tuple[Any, str]] = {
    "addition_embed_type": (None, "an SDXL-style UNet"),
    "transformer_layers_per_block": (1, "an SDXL-style UNet"),
    "use_linear_projection": (False, "SD 2.x-style linear projections"),
    "mid_block_type": ("UNetMidBlock2DCrossAttn", "another mid block"),
    "class_embed_type": (None, "class conditioning"),
    "num_class_embeds": (None, "class conditioning"),
    "encoder_hid_dim": (None, "a projected text encoder"),
    "time_cond_proj_dim": (None, "an LCM-style time condition"),
    "time_embedding_type": ("positional", "another time embedding"),
    "flip_sin_to_cos": (True, "another time embedding"),
    "freq_shift": (0, "another time embedding"),
    "center_input_sample": (False, "a centred input"),
    "only_cross_attention": (False, "cross-attention only blocks"),
    "dual_cross_attention": (False, "dual cross-attention"),
    "resnet_time_scale_shift": ("default", "scale-shift time conditioning"),
    "act_fn": ("silu", "another activation"),
    "norm_eps": (1e-5, "another norm epsilon"),
    "downsample_padding": (1, "another downsampler"),
    "mid_block_scale_factor": (1, "a scaled mid block"),
    "conv_in_kernel": (3, "another conv_in"),
    "conv_out_kernel": (3, "another conv_out"),
    "attention_type": ("default", "gated attention"),
    "dropout": (0.0, "dropout"),
}
_ADAPTER_FIXED: dict[str, tuple[Any, str]] = {
    "use_motion_mid_block": (True, "no mid-block motion module (AnimateDiff v1)"),
    "motion_mid_block_layers_per_block": (1, "several mid-block motion modules"),
    "motion_transformer_layers_per_block": (1, "deeper motion modules"),
    "motion_transformer_layers_per_mid_block": (1, "deeper motion modules"),
    "conv_in_channels": (None, "an adapter with its own conv_in (PIA)"),
}


def _check_fixed(cfg: dict[str, Any], fixed: dict[str, tuple[Any, str]], what: str) -> None:
    for field, (ours, layout) in fixed.items():
        value = cfg.get(field, ours)
        if isinstance(value, (list, tuple)) and len(set(value)) == 1:
            value = value[0]  # the same value for every block
        if value != ours:
            raise BadInput(f"{what}: {field} is {value!r} ({layout}); mobius-bench builds {ours!r}")


def _one(cfg: dict[str, Any], field: str, what: str) -> int:
    """An int field that may be given per block, as long as every block agrees."""
    value = cfg[field]
    if isinstance(value, (list, tuple)):
        if len(set(value)) != 1:
            raise BadInput(
                f"{what}: {field} differs per block {list(value)}; mobius-bench needs one"
            )
        value = value[0]
    return int(value)


def _attention_levels(cfg: dict[str, Any], what: str) -> tuple[bool, ...]:
    down, up = list(cfg["down_block_types"]), list(cfg["up_block_types"])
    if any(t not in (CROSS_DOWN, PLAIN_DOWN) for t in down):
        raise BadInput(f"{what}: down_block_types {down} are not SD 1.5's kinds")
    levels = tuple(t == CROSS_DOWN for t in down)
    mirrored = [CROSS_UP if a else PLAIN_UP for a in reversed(levels)]
    if up != mirrored:
        raise BadInput(f"{what}: up_block_types {up} do not mirror the down blocks ({mirrored})")
    if len(cfg["block_out_channels"]) != len(levels):
        raise BadInput(
            f"{what}: {len(cfg['block_out_channels'])} block_out_channels for {len(levels)} blocks"
        )
    return levels


def unet_fields(cfg: dict[str, Any], what: str = "unet config") -> dict[str, Any]:
    """Our Config's architecture fields from a `UNet2DConditionModel` config, validated."""
    _check_fixed(cfg, _UNET_FIXED, what)
    if cfg.get("in_channels", 4) != cfg.get("out_channels", 4):
        raise BadInput(
            f"{what}: in_channels {cfg.get('in_channels')} differ from"
            f" out_channels {cfg.get('out_channels')}"
        )
    heads = cfg.get("num_attention_heads") or cfg.get("attention_head_dim", 8)  # SD's old naming
    return {
        "block_channels": tuple(int(c) for c in cfg["block_out_channels"]),
        "attention_levels": _attention_levels(cfg, what),
        "layers_per_level": _one(cfg, "layers_per_block", what),
        "heads": _one({"heads": heads}, "heads", what),
        "groups": int(cfg.get("norm_num_groups", 32)),
        "context_dim": int(cfg.get("cross_attention_dim", 1280)),
        "latent_channels": int(cfg.get("in_channels", 4)),
    }


def adapter_fields(
    cfg: dict[str, Any], unet: dict[str, Any], what: str = "motion adapter config"
) -> dict[str, Any]:
    """Our Config's temporal fields from a `MotionAdapter` config, checked against the UNet's."""
    _check_fixed(cfg, _ADAPTER_FIXED, what)
    channels = tuple(int(c) for c in cfg.get("block_out_channels", (320, 640, 1280, 1280)))
    if channels != unet["block_channels"]:
        raise BadInput(
            f"{what}: block_out_channels {channels} differ from the UNet's {unet['block_channels']}"
        )
    layers = _one(
        {"motion_layers_per_block": cfg.get("motion_layers_per_block", 2)},
        "motion_layers_per_block",
        what,
    )
    if layers != unet["layers_per_level"]:
        raise BadInput(
            f"{what}: motion_layers_per_block {layers} differs from"
            f" the UNet's layers_per_block {unet['layers_per_level']}"
        )
    groups = int(cfg.get("motion_norm_num_groups", 32))
    if groups != unet["groups"]:
        raise BadInput(
            f"{what}: motion_norm_num_groups {groups} differs from"
            f" the UNet's norm_num_groups {unet['groups']}"
        )
    heads = _one(
        {"motion_num_attention_heads": cfg.get("motion_num_attention_heads", 8)},
        "motion_num_attention_heads",
        what,
    )
    return {
        "temporal_heads": heads,
        "temporal_positions": int(cfg.get("motion_max_seq_length", 32)),
    }


ARCHITECTURE = (
    "block_channels", "attention_levels", "layers_per_level", "heads", "groups", "context_dim",
    "latent_channels", "temporal_heads", "temporal_positions",
)  # fmt: skip


def config_from(unet: dict[str, Any], adapter: dict[str, Any] | None, base: Config) -> Config:
    """`base`'s clip shape with the checkpoint's architecture. Without an adapter the
    temporal fields stay `base`'s. Named after the preset it equals, else `custom`."""
    fields = unet_fields(unet)
    if adapter is not None:
        fields.update(adapter_fields(adapter, fields))
    config = replace(base, name="custom", **fields)
    same = [
        p
        for p in PRESETS.values()
        if all(getattr(p, f) == getattr(config, f) for f in ARCHITECTURE)
    ]
    return replace(config, name=same[0].name) if same else config


def unet_config(config: Config) -> dict[str, Any]:
    """The `UNet2DConditionModel` config of our 2D UNet (SD 1.5's naming of heads)."""
    c = config
    return {
        "sample_size": c.latent_size,
        "in_channels": c.latent_channels,
        "out_channels": c.latent_channels,
        "down_block_types": [CROSS_DOWN if a else PLAIN_DOWN for a in c.attention_levels],
        "up_block_types": [CROSS_UP if a else PLAIN_UP for a in reversed(c.attention_levels)],
        "block_out_channels": list(c.block_channels),
        "layers_per_block": c.layers_per_level,
        "norm_num_groups": c.groups,
        "cross_attention_dim": c.context_dim,
        "attention_head_dim": c.heads,
    }


def adapter_config(config: Config) -> dict[str, Any]:
    """The `MotionAdapter` config of our motion modules (AnimateDiff v2's layout)."""
    c = config
    return {
        "block_out_channels": list(c.block_channels),
        "motion_layers_per_block": c.layers_per_level,
        "motion_num_attention_heads": c.temporal_heads,
        "motion_norm_num_groups": c.groups,
        "motion_max_seq_length": c.temporal_positions,
        "use_motion_mid_block": True,
    }
