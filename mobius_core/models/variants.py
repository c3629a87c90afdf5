"""The registry of 3D-UNet variants, the text-to-image model, and weight sharing."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from mobius_core.errors import BadInput
from mobius_core.models.config import Config
from mobius_core.models.mobius import Fusion, MobiusUNet, TemporalBranch
from mobius_core.models.temporal import TemporalTransformer
from mobius_core.models.unet import UNet


@dataclass(frozen=True)
class VariantSpec:
    """Everything every layer needs to know of one variant, declared once."""

    name: str
    build: Callable[[Config], nn.Module]  # the model, all weights trainable
    label: str  # for reports
    colour: str  # matplotlib colour, the same in every plot
    # module classes that train (the rest is frozen), or a function that imports them
    trains: tuple[type[nn.Module], ...] | Callable[[], tuple[type[nn.Module], ...]]
    baseline: bool = False  # the variant every other is set against
    spatial: Callable[[nn.Module], nn.Module] = lambda model: model  # holds the 2D weights

    def trained_classes(self) -> tuple[type[nn.Module], ...]:
        """The module classes that train."""
        return self.trains() if callable(self.trains) else self.trains


VARIANTS: dict[str, VariantSpec] = {}


def register(spec: VariantSpec) -> VariantSpec:
    """Add a variant: every command, the suite and the report then know it."""
    if spec.baseline and any(s.baseline for s in VARIANTS.values() if s.name != spec.name):
        raise ValueError(f"variant {spec.name}: there is already a baseline variant")
    VARIANTS[spec.name] = spec
    return spec


def buildable() -> list[str]:
    """Every registered variant whose trained classes import here (the default list); each
    one left out says why on stderr."""
    names = []
    for name, variant_spec in VARIANTS.items():
        try:
            variant_spec.trained_classes()
        except BadInput as err:
            print(f"# {name} left out: {err}", file=sys.stderr)
            continue
        names.append(name)
    return names


register(
    VariantSpec(
        "serial",
        lambda c: UNet(c, temporal=True),
        "serial (AnimateDiff order)",
        "tab:blue",
        (TemporalTransformer,),
        baseline=True,
    )
)
register(
    VariantSpec(
        "serial-ckpt",
        lambda c: UNet(c, temporal=True, checkpoint=True),
        "serial, activation checkpointing",
        "tab:orange",
        (TemporalTransformer,),
    )
)
register(
    VariantSpec(
        "mobius",
        MobiusUNet,
        "mobius (parallel branch)",
        "tab:green",
        (TemporalBranch, Fusion),
        spatial=lambda model: model.trunk,
    )
)
register(
    VariantSpec(
        "mobius-double",
        lambda c: MobiusUNet(c, rejoin=c.rejoin),
        "mobius, double bridge (returns in the decoder)",
        "tab:red",
        (TemporalBranch, Fusion),
        spatial=lambda model: model.trunk,
    )
)


BUILT_IN = tuple(VARIANTS)  # the variants defined here; interop and tests may register more


def spec(variant: str) -> VariantSpec:
    """The spec of `variant`; an unknown name is bad input."""
    if variant not in VARIANTS:
        raise BadInput(f"variant: unknown variant {variant!r}; choose from {list(VARIANTS)}")
    return VARIANTS[variant]


def baseline_name() -> str:
    return next(s.name for s in VARIANTS.values() if s.baseline)


def build_unet2d(config: Config) -> UNet:
    """The text-to-image UNet whose weights every variant's spatial layers share."""
    return UNet(config)


def build_unet(
    config: Config,
    variant: str,
    device: torch.device | str | None = None,
    frozen_dtype: torch.dtype | None = None,
) -> nn.Module:
    """A variant with its spatial weights frozen (optionally held in `frozen_dtype`).

    Only the temporal modules, and in mobius the bridges and fusion, keep
    `requires_grad`; they stay in float32.
    """
    variant_spec = spec(variant)
    with torch.device(device or "cpu"):
        model = variant_spec.build(config)
    model.requires_grad_(False)
    trains = variant_spec.trained_classes()
    for module in model.modules():
        if isinstance(module, trains):
            module.requires_grad_(True)
    if frozen_dtype is not None:
        hold_frozen_in(model, frozen_dtype)
    return model


def hold_frozen_in(model: nn.Module, dtype: torch.dtype) -> None:
    """Cast the frozen weights to `dtype` (as diffusers' training scripts do)."""
    for param in model.parameters():
        if not param.requires_grad:
            param.data = param.data.to(dtype)


def load_spatial_weights(
    model: nn.Module, variant: str, state_dict: dict[str, torch.Tensor]
) -> None:
    """Load a 2D UNet's state dict into a variant's spatial layers, under the same names.

    Every 2D weight must be used, and the only weights left untouched are trainable ones.
    """
    target = spec(variant).spatial(model)
    result = target.load_state_dict(state_dict, strict=False)
    if result.unexpected_keys:
        raise BadInput(f"state dict: keys the model lacks: {result.unexpected_keys[:3]}")
    params = dict(target.named_parameters())
    frozen_missing = [k for k in result.missing_keys if k in params and not params[k].requires_grad]
    if frozen_missing:
        raise BadInput(f"state dict: frozen weights missing: {frozen_missing[:3]}")


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Parameter counts: trainable, frozen and total."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable": trainable, "frozen": total - trainable, "total": total}


def build_matched(
    config: Config,
    variants: list[str],
    device: torch.device | str = "cpu",
    frozen_dtype: torch.dtype | None = None,
    seed: int = 0,
) -> dict[str, nn.Module]:
    """Every variant with the same spatial weights (one seeded 2D UNet) and the same seed
    for its own trainable weights."""
    torch.manual_seed(seed)
    with torch.device(device):
        weights = build_unet2d(config).state_dict()
    models = {}
    for variant in variants:
        torch.manual_seed(seed + 1)
        model = build_unet(config, variant, device)
        load_spatial_weights(model, variant, weights)
        if frozen_dtype is not None:
            hold_frozen_in(model, frozen_dtype)
        models[variant] = model
    return models
