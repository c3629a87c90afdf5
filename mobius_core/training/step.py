"""The matched fine-tuning step: identical inputs, loss and optimizer for every variant."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mobius_core.models.config import Config
from mobius_core.training.clips import encode, moving_shapes

TRAIN_STEPS = 1000  # DDPM timesteps


@lru_cache(maxsize=4)
def alphas_cumprod(device: torch.device | str = "cpu", steps: int = TRAIN_STEPS) -> Tensor:
    """Stable Diffusion's fixed "scaled linear" DDPM schedule: betas 0.00085 -> 0.012.

    Cached per device, so that a step does not copy it to the GPU each time.
    """
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, steps, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0).float().to(device)  # (steps,)


@dataclass(frozen=True)
class Batch:
    """One step's inputs, all drawn from one seed."""

    latents: Tensor  # (b, 4, f, h/8, w/8): the clean clip
    context: Tensor  # (b, 77, 768): the text context
    timesteps: Tensor  # (b,)
    noise: Tensor  # (b, 4, f, h/8, w/8)

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> Batch:
        """The same batch on `device`, its floating tensors optionally in `dtype`."""
        return Batch(
            self.latents.to(device, dtype),
            self.context.to(device, dtype),
            self.timesteps.to(device),
            self.noise.to(device, dtype),
        )


def make_batch(config: Config, seed: int = 0) -> Batch:
    """A synthetic clip's latents, a random text context, timesteps and noise (on the CPU)."""
    c = config
    latents = encode(moving_shapes(c.batch, c.frames, c.resolution, seed))
    gen = torch.Generator().manual_seed(seed)
    context = torch.randn(c.batch, c.context_len, c.context_dim, generator=gen)
    timesteps = torch.randint(0, TRAIN_STEPS, (c.batch,), generator=gen)
    noise = torch.randn(latents.shape, generator=gen)
    return Batch(latents, context, timesteps, noise)


def make_optimizer(
    model: nn.Module, lr: float = 1e-4, foreach: bool | None = None
) -> torch.optim.AdamW:
    """AdamW over the trainable parameters only; `foreach` None lets torch pick (foreach on
    CUDA, a loop over the weights on the CPU)."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(trainable, lr=lr, foreach=foreach)


def compute_loss(
    model: nn.Module, batch: Batch, dtype: torch.dtype = torch.float32, per_entry: bool = False
) -> Tensor:
    """Epsilon-prediction MSE on the noised latents (forward only): a scalar, or `(b,)` per
    entry of the batch with `per_entry`.

    `dtype` below float32 runs the model under autocast at that dtype (bf16 on CUDA).
    """
    device = batch.latents.device
    acp = alphas_cumprod(device)[batch.timesteps].view(-1, 1, 1, 1, 1)  # (b, 1, 1, 1, 1)
    noisy = (acp.sqrt() * batch.latents + (1 - acp).sqrt() * batch.noise).to(batch.latents.dtype)
    autocast = torch.autocast(device.type, dtype=dtype) if dtype != torch.float32 else nullcontext()
    with autocast:
        prediction = model(noisy, batch.timesteps, batch.context)
    if per_entry:
        return (prediction.float() - batch.noise.float()).pow(2).flatten(1).mean(1)  # (b,)
    return F.mse_loss(prediction.float(), batch.noise.float())


def _unmarked(phase: str) -> AbstractContextManager[object]:
    return nullcontext()


_SCALERS: weakref.WeakKeyDictionary[torch.optim.Optimizer, torch.amp.GradScaler] = (
    weakref.WeakKeyDictionary()
)


def scaler_for(optimizer: torch.optim.Optimizer, device: str) -> torch.amp.GradScaler:
    """The fp16 loss scaler held with `optimizer`: made on its first fp16 step, kept (with
    its scale) as long as the optimizer lives."""
    if optimizer not in _SCALERS:
        _SCALERS[optimizer] = torch.amp.GradScaler(device)
    return _SCALERS[optimizer]


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    dtype: torch.dtype = torch.float32,
    mark: Callable[[str], AbstractContextManager[object]] = _unmarked,
) -> Tensor:
    """One step: loss, backward, AdamW update, `zero_grad(set_to_none=True)`; the loss.

    fp16 scales the loss with the GradScaler held with the optimizer (`scaler_for`): the
    update is skipped and the scale halved when a gradient overflows. bf16 and fp32 need no
    scaling. `mark(phase)` wraps each phase (forward, backward, optimizer): the profiler
    passes `record_function`; by default it does nothing.
    """
    scaler = scaler_for(optimizer, batch.latents.device.type) if dtype == torch.float16 else None
    with mark("forward"):
        loss = compute_loss(model, batch, dtype)
    with mark("backward"):
        (scaler.scale(loss) if scaler is not None else loss).backward()
    with mark("optimizer"):
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return loss.detach()
