"""Interop with diffusers: checkpoints in, motion modules out, diffusers' serial as a peer.

- `configs`: our Config <-> diffusers' config dicts, validated;
- `keys`: the key table, our names <-> diffusers', checked both ways;
- `load`: `from_diffusers` (a UNet folder or safetensors file, and a MotionAdapter);
- `export`: trained motion modules -> a MotionAdapter folder;
- `peer`: the `diffusers-serial` variant (importing it registers it);
- `options`: the `--unet` / `--motion-adapter` options, and matched models from them;
- `cmd_export_motion`: the `export-motion` command.

Import rules: interop imports models, training and `measure.regions` (to declare the
regions of diffusers' classes), never run or report, and
imports diffusers and safetensors only through `require`, when they are needed, so that
without the `[diffusers]` extra everything else works and these features end in one line
saying what to install.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

from mobius_core.errors import BadInput

INSTALL = "pip install -e '.[diffusers]'"  # the extra: diffusers and safetensors


def require(name: str) -> ModuleType:
    """Import `name` (diffusers or safetensors.torch), or say in one line what to install."""
    try:
        return import_module(name)
    except ImportError:
        raise BadInput(f"{name} is not installed; install the extra: {INSTALL}") from None
