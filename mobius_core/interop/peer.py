"""`diffusers-serial`: diffusers' own `UNetMotionModel` as a measured variant.

Importing this module registers the variant when diffusers is installed, without importing
it (diffusers pulls in torch._dynamo: about 3 s in every process); building the variant
imports it, and a diffusers that fails to import fails the build in one line. It takes our
interface, `(latents (b, 4, f, h, w), timesteps (b,), context (b, 77, c)) -> (b, 4, f, h, w)`,
is built from our serial's weights (so the same seed gives the same trainable start) and
trains its motion modules only, as `freeze_unet2d_params` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.util import find_spec
from typing import Any, NamedTuple

from torch import Tensor, nn

from mobius_core.errors import BadInput
from mobius_core.interop import configs, keys
from mobius_core.measure.regions import declare
from mobius_core.models.config import Config
from mobius_core.models.layers import TEMPORAL
from mobius_core.models.unet import UNet
from mobius_core.models.variants import VARIANTS, VariantSpec, register

NAME = "diffusers-serial"


def motion_unet_config(config: Config) -> dict[str, Any]:
    """`UNetMotionModel`'s config for our serial: the 2D layout with AnimateDiff v2 modules."""
    c, base = config, configs.unet_config(config)
    return {
        **{k: v for k, v in base.items() if k != "attention_head_dim"},
        "down_block_types": [t.replace("2D", "Motion") for t in base["down_block_types"]],
        "up_block_types": [t.replace("2D", "Motion") for t in base["up_block_types"]],
        "num_attention_heads": c.heads,
        "motion_num_attention_heads": c.temporal_heads,
        "motion_max_seq_length": c.temporal_positions,
        "use_motion_mid_block": True,
    }


class DiffusersSerial(nn.Module):
    """`UNetMotionModel` with our call: the context is repeated per frame for it."""

    def __init__(self, config: Config) -> None:
        super().__init__()
        motion_module()  # diffusers importable, its classes' regions declared
        from diffusers import UNetMotionModel

        self.config = config
        self.unet = UNetMotionModel(**motion_unet_config(config))

    def forward(self, latents: Tensor, timesteps: Tensor, context: Tensor) -> Tensor:
        # latents: (b, c, f, h, w); timesteps: (b,); context: (b, 77, c_ctx) -> (b, c, f, h, w)
        frames = latents.shape[2]
        per_frame = context.repeat_interleave(frames, dim=0)  # ((b f), 77, c_ctx)
        return self.unet(latents, timesteps, per_frame).sample

    def table(self) -> keys.Table:
        """Our serial's names -> this model's: the 2D table and the motion table."""
        c = self.config
        return {**keys.unet2d_table(c), **keys.motion_table(c, keys.serial_prefixes(c))}

    def spatial(self) -> SpatialView:
        return SpatialView(self.unet, keys.unet2d_table(self.config))

    @classmethod
    def from_serial(cls, serial: UNet) -> DiffusersSerial:
        """The same model as our serial `serial`: every weight copied through the key table."""
        model = cls(serial.config)
        moved = keys.translate(serial.state_dict(), model.table())
        assert not moved.unused, f"serial weights without a diffusers name: {moved.unused[:3]}"
        result = model.unet.load_state_dict(moved.state, strict=False)
        missing = [k for k in result.missing_keys if not k.endswith(keys.POSITIONS)]
        assert not missing and not result.unexpected_keys, (missing[:3], result.unexpected_keys)
        return model


class LoadResult(NamedTuple):
    """What `load_state_dict` reports, under our names."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class SpatialView(nn.Module):
    """The 2D weights of a `UNetMotionModel` under our names: what `load_spatial_weights`
    loads a 2D UNet's state dict into."""

    def __init__(self, unet: nn.Module, table: keys.Table) -> None:
        super().__init__()
        self._target = [unet]  # in a list: not a submodule of the view
        self._table, self._inverse = table, keys.invert(table)

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        moved = keys.translate(dict(state_dict), self._table)
        result = self._target[0].load_state_dict(moved.state, strict=False, assign=assign)
        missing = [self._inverse.get(k, k) for k in result.missing_keys]
        return LoadResult(missing, moved.unused)

    def named_parameters(self, *args: Any, **kwargs: Any) -> Iterator[tuple[str, nn.Parameter]]:
        for name, param in self._target[0].named_parameters(*args, **kwargs):
            yield self._inverse.get(name, name), param


def build(config: Config) -> DiffusersSerial:
    """Our serial (same random draws as the `serial` variant) converted to diffusers'."""
    return DiffusersSerial.from_serial(UNet(config, temporal=True))


def motion_module() -> type[nn.Module]:
    """diffusers' motion module class (the one that trains), its region declared as temporal;
    BadInput where diffusers or a peer of it (transformers, hub) fails to import."""
    try:  # diffusers imports its peers lazily: a broken peer fails here
        from diffusers.models.unets.unet_motion_model import AnimateDiffTransformer3D
    except (ImportError, RuntimeError) as err:
        raise BadInput(f"{NAME}: diffusers fails to import ({err})") from None
    declare(AnimateDiffTransformer3D, TEMPORAL)  # the rest of diffusers' UNet is spatial
    return AnimateDiffTransformer3D


def register_peer() -> bool:
    """Register `diffusers-serial` if diffusers is installed; whether it is registered."""
    if find_spec("diffusers") is None:
        return False
    if NAME not in VARIANTS:
        register(
            VariantSpec(
                NAME,
                build,
                "serial (diffusers UNetMotionModel)",
                "tab:purple",
                lambda: (motion_module(),),
                spatial=lambda model: model.spatial(),
            )
        )
    return True


register_peer()
