"""Device and dtype choice: the best device present, bf16 on CUDA and fp32 on CPU."""

from __future__ import annotations

import torch

from mobius_core.errors import BadInput

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def best_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_device(name: str) -> str:
    """`auto` -> the best device; `cuda` without a GPU is an error."""
    if name == "auto":
        return best_device()
    if name not in ("cpu", "cuda"):
        raise BadInput(f"device: unknown device {name!r}; choose auto, cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise BadInput("device: cuda was asked for but no CUDA GPU is present")
    return name


def resolve_dtype(name: str, device: str) -> torch.dtype:
    """`auto` -> bf16 on CUDA, fp32 on CPU."""
    if name == "auto":
        return torch.bfloat16 if device == "cuda" else torch.float32
    if name not in DTYPES:
        raise BadInput(f"dtype: unknown dtype {name!r}; choose auto or one of {list(DTYPES)}")
    return DTYPES[name]


def frozen_dtype(device: str, dtype: torch.dtype) -> torch.dtype | None:
    """The dtype frozen weights are held in: the compute dtype on CUDA (as diffusers'
    training scripts do), unchanged (None) on CPU."""
    return dtype if device == "cuda" else None


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()
