"""Predict a step without a GPU: each variant on the meta device, no memory allocated.

FLOPs come from FlopCounterMode over forward and backward; bytes saved for backward from
the saved-tensor tracker; parameter, gradient and optimizer bytes from the parameter
counts at the holdings the real run uses (and, with `--world N --mode fsdp`, one rank's share
of them under FSDP2's dim-0 sharding) (frozen weights in the compute dtype, trainable
weights, gradients and both AdamW moments in fp32). Attention is modelled as CUDA's fused
kernels run it (`run.attention`), or as the meta device's math path for comparison. The
batch is made on the meta device too, so that no batch size costs memory. The model and
batch are held as the CUDA run holds them (frozen weights in the compute dtype, trainable
weights and the batch in fp32), and below fp32 the step runs under CUDA autocast's casts,
emulated (`run.autocast_model`): norms and the loss in fp32, products in the compute dtype,
trainable weights cast to it once per forward; so the saves are autocast's.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import replace
from itertools import chain

import torch
from torch import nn

from mobius_core.errors import BadInput
from mobius_core.measure.flops import FlopTracker
from mobius_core.measure.live_bytes import LiveBytes
from mobius_core.measure.memory import optimizer_state
from mobius_core.measure.results import ParamCounts
from mobius_core.measure.saved import SavedTracker
from mobius_core.models.config import Config
from mobius_core.models.variants import baseline_name, build_unet, parameter_counts, spec
from mobius_core.progress import tracked
from mobius_core.report.design_space import REJOINING, Sweep
from mobius_core.report.record import Case, DryRecord, DryRun, StateBytes, VariantInfo
from mobius_core.run.attention import FUSED, attention_model
from mobius_core.run.autocast_model import emulated_autocast
from mobius_core.training.devices import DTYPES, frozen_dtype
from mobius_core.training.step import Batch, compute_loss, make_optimizer

FP32 = 4  # bytes
META = "meta"


def dtype_name(dtype: torch.dtype) -> str:
    """The one spelling of a dtype: fp32, bf16 or fp16."""
    return next(name for name, value in DTYPES.items() if value == dtype)


def meta_batch(config: Config) -> Batch:
    """A step's inputs on the meta device, shapes only: nothing allocated at any batch. In
    fp32, as the real run's batch (`make_batch`) is at every compute dtype."""
    c, size = config, config.latent_size
    latents = (c.batch, c.latent_channels, c.frames, size, size)  # (b, 4, f, h/8, w/8)

    def empty(*shape: int, kind: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.empty(shape, device=META, dtype=kind)

    return Batch(
        latents=empty(*latents),
        context=empty(c.batch, c.context_len, c.context_dim),  # (b, 77, 768)
        timesteps=empty(c.batch, kind=torch.long),  # (b,)
        noise=empty(*latents),
    )


def autocast(dtype: torch.dtype, cached: bool = True) -> AbstractContextManager[object]:
    """CUDA autocast at `dtype`, emulated on the meta device; nothing at fp32. One entry
    per pass: the real forward's autocast, and checkpoint's re-entries in backward. CUDA
    clears the cast cache as each re-entry exits, so in backward (`cached=False`) no
    weight's copy outlives the layer it was cast for."""
    if dtype == torch.float32:
        return nullcontext()
    return emulated_autocast(dtype, META, cached)


def settled_optimizer(model: nn.Module) -> torch.optim.AdamW:
    """The optimizer as a timed CUDA step finds it: AdamW, foreach (torch's pick for CUDA
    tensors: its update makes one temporary per trainable weight), its moments made by a
    first update."""
    optimizer = make_optimizer(model, foreach=True)
    trainable = [p for p in model.parameters() if p.requires_grad]
    for param in trainable:
        param.grad = torch.zeros_like(param)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return optimizer


def simulated_peak(
    model: nn.Module, batch: Batch, dtype: torch.dtype, attention: str = FUSED
) -> int:
    """The most bytes alive at once over a step of its own under `LiveBytes` alone (the
    trackers' hooks hold tensors that a plain step frees): weights, AdamW state and the
    batch, then forward, backward and AdamW's update, as a timed CUDA step runs them."""
    optimizer = settled_optimizer(model)
    live = LiveBytes(META)
    inputs = (batch.latents, batch.context, batch.timesteps, batch.noise)
    live.hold(chain(model.parameters(), model.buffers(), optimizer_state(optimizer), inputs))
    with attention_model(attention), collector_paused(), live:
        with autocast(dtype):
            loss = compute_loss(model, batch)
        with autocast(dtype, cached=False):
            loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return live.peak


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic collector off: what a step frees, and when, then depends on
    reference counts alone, so the simulated peak is the same on every run."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def state_bytes(counts: dict[str, int], dtype: torch.dtype) -> StateBytes:
    """Frozen weights in the compute dtype; trainable weights, gradients, AdamW in fp32."""
    size = torch.finfo(dtype).bits // 8
    return StateBytes(
        parameters=counts["frozen"] * size + counts["trainable"] * FP32,
        gradients=counts["trainable"] * FP32,
        optimizer=2 * counts["trainable"] * FP32,  # AdamW exp_avg and exp_avg_sq
    )


def sharded_state_bytes(model: nn.Module, world: int, dtype: torch.dtype) -> StateBytes:
    """One rank's weights, gradients and AdamW state under FSDP2 over `world` ranks: each
    parameter is cut along dim 0 into chunks of ceil(rows / world) rows (the last padded), so
    the largest share, rank 0's, is ceil(rows / world) rows of every parameter; frozen weights
    in the compute dtype, trainable weights, gradients and both moments in fp32."""
    size = torch.finfo(dtype).bits // 8
    frozen = trainable = 0
    for param in model.parameters():
        rows = param.shape[0] if param.dim() else 1
        share = -(-rows // world) * (param.numel() // max(rows, 1))  # ceil(rows / world) rows
        if param.requires_grad:
            trainable += share
        else:
            frozen += share
    return StateBytes(
        parameters=frozen * size + trainable * FP32,
        gradients=trainable * FP32,
        optimizer=2 * trainable * FP32,
    )


def predict(
    config: Config, variant: str, dtype: torch.dtype, attention: str = FUSED, world: int = 1
) -> DryRecord:
    """One variant's predicted step at `config`'s shape and `dtype`, attention as named;
    with `world` > 1, also one rank's state bytes under FSDP sharding over that many ranks."""
    model = build_unet(config, variant, META, frozen_dtype("cuda", dtype))
    batch = meta_batch(config)
    flops, saved = FlopTracker(model), SavedTracker(model)
    with attention_model(attention), flops.track():  # backward recomputes: keep it inside
        # the loss outside the model is fp32 both ways: autocast around it changes nothing
        with flops.mark("forward"), saved.track(), autocast(dtype):
            loss = compute_loss(model, batch)
        with flops.mark("backward"), autocast(dtype, cached=False):
            loss.backward()
    del loss
    peak = simulated_peak(model, batch, dtype, attention)
    counts = parameter_counts(model)
    info = spec(variant)
    return DryRecord(
        case=Case(
            config.name,
            config.batch,
            config.frames,
            config.resolution,
            dtype_name(dtype),
            META,
            **({"mode": "fsdp", "world_size": world} if world > 1 else {}),  # type: ignore[arg-type]
        ),
        variant=VariantInfo(info.name, info.label, info.colour, info.baseline),
        attention=attention,
        params=ParamCounts(**counts),
        flops=flops.result(),
        saved=saved.result(),
        states=state_bytes(counts, dtype),
        peak=peak,
        per_rank=sharded_state_bytes(model, world, dtype) if world > 1 else None,
    )


def _ratios(record: DryRecord, base: DryRecord) -> dict[str, float]:
    """`record`'s step FLOPs, saved bytes, state bytes and peak over `base`'s."""
    assert record.flops.total and base.flops.total and record.saved.bytes and base.saved.bytes

    def states(r: DryRecord) -> int:
        return (r.states.parameters or 0) + (r.states.gradients or 0) + (r.states.optimizer or 0)

    return {
        "flops": record.flops.total / base.flops.total,
        "saved": record.saved.bytes / base.saved.bytes,
        "states": states(record) / states(base),
        "peak": record.predicted_peak / base.predicted_peak,
    }


def dry_run(
    config: Config,
    variants: list[str],
    dtype: torch.dtype,
    attention: str = FUSED,
    world: int = 1,
) -> DryRun:
    """Predictions for every variant, each with its figures' ratios to the baseline's
    (when the baseline is among them); with `world` > 1, per-rank bytes under FSDP."""
    records = [predict(config, v, dtype, attention, world) for v in variants]
    return _with_ratios(config, records, dtype, attention)


def _with_ratios(
    config: Config, records: list[DryRecord], dtype: torch.dtype, attention: str
) -> DryRun:
    base = next((r for r in records if r.variant.name == baseline_name()), None)
    for record in records:
        if base is not None:
            record.ratio_to_baseline = _ratios(record, base)
    plain = {k: list(v) if isinstance(v, tuple) else v for k, v in config.to_dict().items()}
    return DryRun(plain, dtype_name(dtype), attention, records)  # config as JSON reads back


def rejoin_sweep(
    config: Config,
    variants: list[str],
    dtype: torch.dtype,
    rejoin: list[int],
    attention: str = FUSED,
) -> Sweep:
    """A dry run per k in `rejoin`, its config's `rejoin_positions` set to k: mobius-double at
    k beside the other variants, which do not depend on k and are predicted once."""
    if REJOINING not in variants:
        raise BadInput(f"--rejoin: only {REJOINING} has return bridges; add it to --variants")
    configs = [_rejoining(config, k) for k in rejoin]  # every k checked before the work
    fixed = {v: predict(config, v, dtype, attention) for v in variants if v != REJOINING}
    runs = []
    for at_k in tracked(configs, "dry run", name=lambda c: f"k={c.rejoin_positions}"):
        double = predict(at_k, REJOINING, dtype, attention)
        records = [double if v == REJOINING else replace(fixed[v]) for v in variants]
        runs.append(_with_ratios(at_k, records, dtype, attention))
    return Sweep(runs)


def _rejoining(config: Config, k: int) -> Config:
    if not 0 <= k <= config.up_positions:
        raise BadInput(f"--rejoin: {k} is outside 0..{config.up_positions} (the up positions)")
    return replace(config, rejoin_positions=k)
