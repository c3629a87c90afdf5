"""mobius-bench: serial vs Mobius (spatial-temporal parallel) 3D-UNets, measured.

Subpackages, each importing only what lies below it:
- `models/`: the 3D-UNet variants and their config (imports nothing above it);
- `training/`: clips and the matched step (imports models);
- `measure/`: one tracker per figure (imports models, training);
- `run/`: cases, the launcher, the runner, the dry run, profiling (imports all above);
- `report/`: the typed record and everything that reads it (imports neither torch nor
  models nor run, so that reports and the CI gate run anywhere);
- `cli.py`: the `mobius-bench` command, importing each command's module when it runs.

The names below are loaded on first use, so that `import mobius_core.report` needs no torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "PRESETS": "mobius_core.models.config",
    "Config": "mobius_core.models.config",
    "preset": "mobius_core.models.config",
    "VARIANTS": "mobius_core.models.variants",
    "build_matched": "mobius_core.models.variants",
    "build_unet": "mobius_core.models.variants",
    "build_unet2d": "mobius_core.models.variants",
    "from_diffusers": "mobius_core.interop.load",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mobius_core' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
