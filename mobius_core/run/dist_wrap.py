"""A variant wrapped for a distributed step: DDP over its trainable parameters, or FSDP2
per UNet layer; and a count of the bytes the step's collectives carry.

DDP: every frozen parameter and every buffer is named to DDP as one to ignore, so DDP never
holds, broadcasts or reduces them: its reducer holds exactly the trainable parameters, and
`find_unused_parameters` stays False (every trainable parameter of every variant takes part
in the loss).

FSDP2 (`torch.distributed.fsdp.fully_shard`): one unit per UNet `Layer` (frozen spatial and,
in serial, trainable temporal weights alike), one per motion module outside a Layer (the
mobius branch's, one per position), and the root unit holding the rest (time embedding,
conv_in/out, resampling, bridges, fusion). diffusers' `UNetMotionModel` (diffusers-serial)
has no Layer: its blocks keep a layer's resnet, attention and motion module in three lists,
so each layer is one unit of those modules grouped (`fully_shard` of a list), like ours.
Mobius's trunk layers are sharded like any other and gathered before each forward; since the
trunk runs under `no_grad` their outputs carry no pre-backward hook and, holding no
parameter that requires grad, are never reduce-scattered; backward prefetching is planned so
that no unit prefetches them either (`_PrefetchPlan`): the trunk costs one forward
all-gather per layer and nothing else.
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from mobius_core.errors import BadInput
from mobius_core.models.temporal import TemporalTransformer
from mobius_core.models.unet import Layer

DISTRIBUTED = ("ddp", "fsdp")
COMM_METHOD = (
    "a dispatch mode over one untimed step counts each collective's full (unsharded) buffer:"
    " all-reduce and broadcast tensors, all-gather outputs, reduce-scatter inputs"
)
# FSDP2 warns that the root returns a view (the transposed output): no in-place op follows
_VIEW_WARNING = ".*returned a view tensor.*"


def fully_shard_function() -> Any:
    """torch's FSDP2 `fully_shard`; a one-line error where this torch lacks it."""
    try:
        from torch.distributed.fsdp import fully_shard
    except ImportError:
        raise BadInput(
            f"--mode fsdp: torch {torch.__version__} has no torch.distributed.fsdp.fully_shard"
            " (FSDP2); install torch 2.6 or later"
        ) from None
    return fully_shard


def check_available(mode: str) -> None:
    """A one-line error when this torch cannot run `mode` (dynamo, distributed or FSDP2
    missing)."""
    if mode == "compile":
        from mobius_core.run.modes import check

        check(mode)
    if mode not in DISTRIBUTED:
        return
    if not torch.distributed.is_available():
        raise BadInput(f"--mode {mode}: this torch build has no torch.distributed")
    if mode == "fsdp":
        fully_shard_function()


def ignored_names(model: nn.Module) -> list[str]:
    """Frozen parameters and every buffer: what DDP is told to leave alone."""
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    return frozen + [name for name, _ in model.named_buffers()]


def wrap_ddp(model: nn.Module, device: str) -> nn.Module:
    """DDP over `model`'s trainable parameters only."""
    from torch.nn.parallel import DistributedDataParallel

    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, ignored_names(model))
    ids = [torch.cuda.current_device()] if device == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=False)


Unit = nn.Module | list[nn.Module]  # what fully_shard takes: a module, or modules grouped


def fsdp_units(model: nn.Module) -> list[Unit]:
    """The units sharded on their own, in order: every UNet `Layer`, each motion module not
    inside a Layer (mobius's branch), and each layer of a diffusers motion block."""
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, Layer)]
    inside = tuple(f"{name}." for name, _ in layers)
    branch = [
        m
        for name, m in model.named_modules()
        if isinstance(m, TemporalTransformer) and not name.startswith(inside)
    ]
    return [m for _, m in layers] + branch + motion_block_layers(model)


def motion_block_layers(model: nn.Module) -> list[Unit]:
    """Layer i of each diffusers motion block (down, mid, up: a `resnets` and a
    `motion_modules` list): its resnets[i], attentions[i] where the block has attention, and
    motion_modules[i]. A resnet without a motion module (the mid block's second) stays in
    the root, as our MidBlock's does."""
    out: list[Unit] = []
    for block in model.modules():
        resnets, motions = getattr(block, "resnets", None), getattr(block, "motion_modules", None)
        if not isinstance(resnets, nn.ModuleList) or not isinstance(motions, nn.ModuleList):
            continue
        attentions = getattr(block, "attentions", None) or []
        for i, motion in enumerate(motions):
            out.append([resnets[i], *attentions[i : i + 1], motion])
    return out


def wrap_fsdp(model: nn.Module) -> nn.Module:
    """FSDP2 per unit (`fsdp_units`), then the root; `model` itself, sharded in place.

    Backward prefetching is set explicitly from the first forward's order (`_PrefetchPlan`)."""
    fully_shard = fully_shard_function()
    units = fsdp_units(model)
    for unit in units:
        fully_shard(unit)
    fully_shard(model)
    _PrefetchPlan(model, units)
    warnings.filterwarnings("ignore", message=_VIEW_WARNING, category=UserWarning)
    return model


def trains(unit: Unit) -> bool:
    """Whether any module of `unit` holds a weight that requires grad."""
    modules = unit if isinstance(unit, list) else [unit]
    return any(p.requires_grad for m in modules for p in m.parameters())


def first(unit: Unit) -> nn.Module:
    """A module of `unit` (grouped modules share one FSDP state: any stands for them all)."""
    return unit[0] if isinstance(unit, list) else unit


class _PrefetchPlan:
    """FSDP2 by default prefetches, in backward, the unit that ran before in forward, even one
    that runs no backward (mobius's trunk, under `no_grad`), gathering it for nothing. So
    after the first forward each unit holding trainable weights is told to prefetch the
    previous such unit instead (the first one: the root, already gathered); units without
    trainable weights keep torch's default."""

    def __init__(self, root: nn.Module, units: list[Unit]) -> None:
        self.root, self.order = root, []  # type: ignore[var-annotated]
        self.units = {id(first(u)): u for u in units}  # a unit's first module runs first
        self.hooks = [first(u).register_forward_pre_hook(self._ran) for u in units]
        self.hooks.append(root.register_forward_hook(self._plan))

    def _ran(self, module: nn.Module, args: object) -> None:
        unit = self.units[id(module)]
        if not any(unit is seen for seen in self.order):
            self.order.append(unit)

    def _plan(self, module: nn.Module, args: object, output: object) -> None:
        for hook in self.hooks:
            hook.remove()
        previous: Unit = self.root
        for unit in self.order:
            if trains(unit):
                first(unit).set_modules_to_backward_prefetch([first(previous)])  # type: ignore[operator]
                previous = unit


def wrap(model: nn.Module, mode: str, device: str) -> nn.Module:
    """`model` as the step of `mode` runs it (ddp or fsdp), inside an initialised group."""
    if mode == "ddp":
        return wrap_ddp(model, device)
    if mode == "fsdp":
        return wrap_fsdp(model)
    raise ValueError(f"wrap: {mode!r} is not a distributed mode")


class CommCounter(TorchDispatchMode):
    """Counts the c10d collectives dispatched while active: bytes of each one's full buffer,
    by collective (`bytes`), and how many calls (`calls`)."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        if func.namespace == "c10d":
            name = func.__name__.split(".")[0].strip("_")
            self.bytes[name] += _buffer_bytes(name, args)
            self.calls[name] += 1
        return func(*args, **(kwargs or {}))

    @property
    def total(self) -> int:
        return sum(self.bytes.values())


def _buffer_bytes(name: str, args: tuple[Any, ...]) -> int:
    """The full buffer of one collective: the gathered output of an all-gather, the input of
    a reduce-scatter, the tensors of anything else (all-reduce, broadcast)."""
    if name == "allgather_base":  # (output, input, ...)
        return _nbytes(args[0])
    if name == "reduce_scatter_base":  # (output, input, ...)
        return _nbytes(args[1])
    if name in ("allgather", "allgather_into_tensor_coalesced"):
        return _nbytes(args[0])
    if name in ("reduce_scatter", "reduce_scatter_tensor_coalesced"):
        return _nbytes(args[1])
    return _nbytes(args[0]) if args else 0


def _nbytes(value: Any) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, list | tuple):
        return sum(_nbytes(v) for v in value)
    return 0
