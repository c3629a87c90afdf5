"""The key table and the config mapping: names and layouts worked out by hand from
diffusers' and our module trees, checked in both directions."""

from __future__ import annotations

import pytest
import torch

from mobius_core.errors import BadInput
from mobius_core.interop import configs, keys
from mobius_core.models.config import preset
from mobius_core.models.unet import UNet


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("conv_in.weight", "conv_in.weight"),
        ("time_embedding.linear_2.bias", "time_embedding.linear_2.bias"),
        (
            "down_levels.0.layers.1.res.conv_shortcut.weight",
            "down_blocks.0.resnets.1.conv_shortcut.weight",
        ),
        (
            "down_levels.2.layers.0.attn.block.ff.proj.weight",
            "down_blocks.2.attentions.0.transformer_blocks.0.ff.net.0.proj.weight",
        ),
        (
            "up_levels.3.layers.2.attn.block.attn2.to_out.bias",
            "up_blocks.3.attentions.2.transformer_blocks.0.attn2.to_out.0.bias",
        ),
        ("up_levels.1.layers.0.attn.proj_in.weight", "up_blocks.1.attentions.0.proj_in.weight"),
        ("down_levels.1.resample.conv.bias", "down_blocks.1.downsamplers.0.conv.bias"),
        ("up_levels.0.resample.conv.weight", "up_blocks.0.upsamplers.0.conv.weight"),
        ("mid.layer.res.norm1.weight", "mid_block.resnets.0.norm1.weight"),
        ("mid.layer.attn.norm.bias", "mid_block.attentions.0.norm.bias"),
        ("mid.res.time_emb_proj.weight", "mid_block.resnets.1.time_emb_proj.weight"),
    ],
)
def test_spatial_names(ours: str, theirs: str) -> None:
    assert keys.spatial_name(ours) == theirs


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("norm.weight", "norm.weight"),
        ("proj_in.bias", "proj_in.bias"),
        ("blocks.0.norm.weight", "transformer_blocks.0.norm1.weight"),
        ("blocks.0.attn.to_q.weight", "transformer_blocks.0.attn1.to_q.weight"),
        ("blocks.1.norm.bias", "transformer_blocks.0.norm2.bias"),
        ("blocks.1.attn.to_out.bias", "transformer_blocks.0.attn2.to_out.0.bias"),
        ("ff_norm.weight", "transformer_blocks.0.norm3.weight"),
        ("ff.proj.weight", "transformer_blocks.0.ff.net.0.proj.weight"),
        ("ff.out.bias", "transformer_blocks.0.ff.net.2.bias"),
        ("proj_out.weight", "proj_out.weight"),
    ],
)
def test_motion_names(ours: str, theirs: str) -> None:
    assert keys.motion_name(ours) == theirs


def test_positions_in_forward_order() -> None:
    tiny = preset("tiny")  # 2 levels, 1 layer per down level, 2 per up level
    assert keys.adapter_prefixes(tiny) == [
        "down_blocks.0.motion_modules.0.",
        "down_blocks.1.motion_modules.0.",
        "mid_block.motion_modules.0.",
        "up_blocks.0.motion_modules.0.",
        "up_blocks.0.motion_modules.1.",
        "up_blocks.1.motion_modules.0.",
        "up_blocks.1.motion_modules.1.",
    ]
    assert keys.serial_prefixes(tiny)[2:4] == [
        "mid.layer.temporal.",
        "up_levels.0.layers.0.temporal.",
    ]


def test_translate_both_ways_reports_unused_keys() -> None:
    tiny = preset("tiny")
    table = keys.unet2d_table(tiny)
    state = UNet(tiny).state_dict()
    there = keys.translate({**state, "extra.weight": torch.zeros(1)}, table)
    assert there.unused == ["extra.weight"]
    assert "mid_block.resnets.1.conv2.weight" in there.state
    back = keys.translate({**there.state, "pos_embed.pe": torch.zeros(1)}, keys.invert(table))
    assert back.unused == ["pos_embed.pe"]
    assert back.state.keys() == state.keys()
    assert all(back.state[k] is state[k] for k in state)


def test_table_covers_diffusers_both_ways() -> None:
    diffusers = pytest.importorskip("diffusers")
    tiny = preset("tiny")
    with torch.device("meta"):
        unet = diffusers.UNet2DConditionModel(**configs.unet_config(tiny))
        adapter = diffusers.MotionAdapter(**configs.adapter_config(tiny))
    table = keys.unet2d_table(tiny)
    assert set(table.values()) == set(unet.state_dict())
    motion = keys.motion_table(tiny, keys.serial_prefixes(tiny))
    tables = {k for k in adapter.state_dict() if k.endswith(keys.POSITIONS)}
    assert set(motion.values()) == set(adapter.state_dict()) - tables
    assert len(tables) == 7  # one frame table per motion module, which we compute instead
    with torch.device("meta"):
        serial = UNet(tiny, temporal=True).state_dict()
    assert set(serial) == set(table) | set(motion)


def test_sd15_parameter_counts_match_diffusers() -> None:
    diffusers = pytest.importorskip("diffusers")
    sd15 = preset("sd15")
    with torch.device("meta"):
        unet = diffusers.UNet2DConditionModel(**configs.unet_config(sd15))
        adapter = diffusers.MotionAdapter(**configs.adapter_config(sd15))
    assert sum(p.numel() for p in unet.parameters()) == 859_520_964  # SD 1.5, as published
    assert sum(p.numel() for p in adapter.parameters()) == 453_209_280  # AnimateDiff v2


SD15_CONFIG = {  # runwayml/stable-diffusion-v1-5 unet/config.json, the fields that matter
    "act_fn": "silu",
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 768,
    "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
}


def test_sd15_config_is_the_sd15_preset() -> None:
    sd15 = preset("sd15")
    adapter = {"motion_max_seq_length": 32, "use_motion_mid_block": True}  # the rest default
    assert configs.config_from(SD15_CONFIG, adapter, preset("tiny")) == preset(
        "sd15", batch=1, frames=4, resolution=64
    )
    ours = configs.unet_config(sd15)
    assert ours.pop("sample_size") == 32  # the preset's latent size (256 px), not SD's 64
    assert ours == {k: SD15_CONFIG[k] for k in ours}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"use_linear_projection": True, "cross_attention_dim": 1024}, "use_linear_projection"),
        ({"addition_embed_type": "text_time"}, "addition_embed_type"),
        ({"transformer_layers_per_block": [1, 2, 10]}, "transformer_layers_per_block"),
        ({"attention_head_dim": [5, 10, 20, 20]}, "heads"),
        ({"down_block_types": ["DownBlock2D"] * 4}, "up_block_types"),
        ({"down_block_types": ["SimpleCrossAttnDownBlock2D"] * 4}, "down_block_types"),
    ],
)
def test_unsupported_layouts_are_named(change: dict, named: str) -> None:
    with pytest.raises(BadInput, match=named):
        configs.config_from({**SD15_CONFIG, **change}, None, preset("sd15"))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"use_motion_mid_block": False}, "use_motion_mid_block"),
        ({"motion_layers_per_block": 3}, "motion_layers_per_block"),
        ({"block_out_channels": [320, 640, 1280]}, "block_out_channels"),
        ({"motion_norm_num_groups": 16}, "motion_norm_num_groups"),
    ],
)
def test_unsupported_adapters_are_named(change: dict, named: str) -> None:
    with pytest.raises(BadInput, match=named):
        configs.config_from(SD15_CONFIG, change, preset("sd15"))
