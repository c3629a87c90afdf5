"""A user's checkpoint for the tests: tiny random diffusers models, saved with
`save_pretrained` (no network)."""

from __future__ import annotations

from pathlib import Path

import torch

from mobius_core.interop import configs
from mobius_core.models.config import preset

WEIGHTS = "diffusion_pytorch_model.safetensors"


def save_tiny_checkpoint(folder: Path) -> tuple[Path, Path]:
    """A random `UNet2DConditionModel` of the tiny layout and a `MotionAdapter` whose every
    weight, out-projections included, is random and non-zero: their two folders."""
    import diffusers

    config = preset("tiny")
    torch.manual_seed(0)
    unet = diffusers.UNet2DConditionModel(**configs.unet_config(config))
    adapter = diffusers.MotionAdapter(**configs.adapter_config(config))
    with torch.no_grad():
        for name, param in adapter.named_parameters():
            param.normal_(0.0, 0.05).add_(1.0 if "norm" in name and "weight" in name else 0.0)
    unet.save_pretrained(folder / "unet")
    adapter.save_pretrained(folder / "adapter")
    return folder / "unet", folder / "adapter"
