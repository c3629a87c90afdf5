"""Trained motion modules out, as a diffusers `MotionAdapter` folder; our checkpoints.

A checkpoint is one safetensors file of a variant's whole state dict under our names, its
variant and config in the file's metadata (`save_checkpoint`); a run folder holds such
files. `export_motion` turns one into a folder that `MotionAdapter.from_pretrained` loads.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor, nn

from mobius_core.errors import BadInput
from mobius_core.interop import configs, keys, require
from mobius_core.interop.load import motion_table
from mobius_core.models.config import Config
from mobius_core.models.variants import build_unet
from mobius_core.outputs import check_new_file, fill_new_folder, write_bytes_atomic

FORMAT = "mobius-bench-checkpoint/1"


def save_checkpoint(model: nn.Module, variant: str, config: Config, path: Path) -> None:
    """The model's state dict (fp32, on the CPU) with its variant and config: a new file."""
    check_new_file(path)
    st = require("safetensors.torch")
    state = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT, "variant": variant, "config": json.dumps(config.to_dict())}
    write_bytes_atomic(path, st.save(state, metadata=meta))


def _metadata(path: Path) -> dict[str, str]:
    safe_open = require("safetensors").safe_open
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except Exception as error:  # safetensors raises its own error kinds for a bad file
        raise BadInput(f"{path}: not a safetensors file: {error}") from None


def find_checkpoint(path: Path, variant: str | None) -> Path:
    """`path` itself, or the one checkpoint in the run folder `path` or its `checkpoints/`
    (of `variant`: a file named so, e.g. converge's `mobius-double-k3`, else that variant)."""
    if path.is_file():
        return path
    if not path.is_dir():
        raise BadInput(f"{path}: no such checkpoint file or run folder")
    files = sorted([*path.glob("*.safetensors"), *path.glob("checkpoints/*.safetensors")])
    found = {p.stem: p for p in files if _metadata(p).get("format") == FORMAT}  # converge: entry
    if variant is not None:
        exact = {v: p for v, p in found.items() if v == variant}  # a file's name, else its variant
        found = exact or {v: p for v, p in found.items() if _metadata(p).get("variant") == variant}
    if len(found) != 1:
        kinds = sorted(found) or "none"
        raise BadInput(
            f"{path}: need one checkpoint{f' of {variant}' if variant else ''}, found {kinds}"
        )
    return next(iter(found.values()))


def load_checkpoint(path: Path) -> tuple[str, Config, nn.Module]:
    """The variant, config and model a checkpoint file holds."""
    meta = _metadata(path)
    if meta.get("format") != FORMAT:
        raise BadInput(f"{path}: not a mobius-bench checkpoint (format {meta.get('format')!r})")
    raw = json.loads(meta["config"])
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    config, variant = Config(**fields), meta["variant"]
    with torch.device("meta"):
        model = build_unet(config, variant)
    state = require("safetensors.torch").load_file(str(path))
    model.load_state_dict(state, strict=True, assign=True)
    return variant, config, model


def adapter_state(model: nn.Module, config: Config) -> dict[str, Tensor]:
    """The model's motion modules under the MotionAdapter's names, with the frame tables
    diffusers saves beside them."""
    table = motion_table(model, config)
    state = model.state_dict()
    out = {
        theirs: state[ours].detach().float().cpu().contiguous() for ours, theirs in table.items()
    }
    for ours, theirs in table.items():
        if theirs.endswith(".proj_in.weight"):
            module = model.get_submodule(ours.removesuffix(".proj_in.weight"))
            held = getattr(module, "positions", None)
            table_of = held[None] if held is not None else module.get_buffer(keys.POSITIONS)
            out[theirs.removesuffix("proj_in.weight") + keys.POSITIONS] = table_of.float().cpu()
    return out


def export_motion(model: nn.Module, config: Config, out: Path) -> Path:
    """Write the model's motion modules as a new MotionAdapter folder `out`."""
    diffusers = require("diffusers")
    state = adapter_state(model, config)
    adapter = diffusers.MotionAdapter(**configs.adapter_config(config))
    adapter.load_state_dict(state, strict=True)
    return fill_new_folder(lambda folder: adapter.save_pretrained(folder), out)
