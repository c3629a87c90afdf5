"""mobius-bench: serial vs Mobius (spatial-temporal parallel) 3D-UNets, measured."""

from mobius_core.config import PRESETS, Config, preset
from mobius_core.variants import VARIANTS, build_matched, build_unet, build_unet2d

__all__ = ["PRESETS", "VARIANTS", "Config", "build_matched", "build_unet", "build_unet2d", "preset"]
