"""Failures of one variant: out of memory or an error, recorded, memory released."""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass

import torch

from mobius_core.errors import is_oom
from mobius_core.report.record import ERROR, OOM


@dataclass(frozen=True)
class Failure:
    """Why a variant stopped: `oom` or `error`, and the error's first line."""

    status: str
    message: str

    @classmethod
    def of(cls, error: BaseException) -> Failure:
        text = f"{type(error).__name__}: {error}".splitlines()[0]
        return cls(OOM if is_oom(error) else ERROR, text)


def release(device: str) -> None:
    """Free what the garbage collector can, and the allocator's cache on CUDA."""
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def guarded(action: Callable[[], object], device: str) -> Failure | None:
    """Run `action`; on an exception, its Failure (memory released), else None.

    KeyboardInterrupt and other BaseExceptions are not failures of a variant: they pass.
    """
    try:
        action()
        return None
    except Exception as error:  # one variant's failure must not end the run
        failure = Failure.of(error)
    # outside the except clause, so that the traceback's tensors can be freed
    release(device)
    return failure
