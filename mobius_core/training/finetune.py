"""Stage 2: one variant's temporal fine-tune from the stage-1 weights, with its losses.

Every variant of a seed gets the same trainable seed, the same clips in the same order, the
same timesteps and noise, and the same AdamW settings; the control (incoherent clips) gets
the same timesteps and noise too. Each step's training loss and wall time are recorded (the
step alone is timed); every `eval_every` steps, and at step 0 and the last step, the fixed
validation set's loss.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn

from mobius_core.models.config import Config
from mobius_core.models.variants import build_unet, load_spatial_weights
from mobius_core.training.data import Source
from mobius_core.training.devices import frozen_dtype, synchronize
from mobius_core.training.step import TRAIN_STEPS, Batch, make_optimizer, train_step
from mobius_core.training.validation import ValidationSet, evaluate

NOISE_OFFSET = 500_009  # the timestep-and-noise stream's seed, apart from the clips' stream
# (variant, config, seed, device, frozen dtype) -> the model at its start, spatial layers frozen
Builder = Callable[[str, Config, int, str, "torch.dtype | None"], nn.Module]
Keep = Callable[[nn.Module], None]  # takes the fine-tuned model at its last step


@dataclass(frozen=True)
class Entry:
    """One fine-tuned model: a variant, and for mobius-double a rejoin depth of its own."""

    variant: str
    rejoin: int | None = None  # mobius-double's return bridges; None: the config's own

    @property
    def name(self) -> str:
        """The entry's name in records: `serial`, or `mobius-double-k3` at k = 3."""
        return self.variant if self.rejoin is None else f"{self.variant}-k{self.rejoin}"

    def config(self, config: Config) -> Config:
        """`config` at this entry's rejoin depth."""
        return config if self.rejoin is None else replace(config, rejoin_positions=self.rejoin)


@dataclass(frozen=True)
class FinetuneSettings:
    steps: int
    batch: int  # clips per step
    lr: float
    eval_every: int


@dataclass
class Curve:
    """One fine-tune's record: training loss per step, validation loss every few steps."""

    variant: str  # the entry's name: the variant, with `-k{rejoin}` at a depth of its own
    seed: int
    coherent: bool  # False: the control, trained on incoherent clips
    train_loss: list[float] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_seconds: list[float] = field(default_factory=list)  # timed training up to that step
    eval_loss: list[float] = field(default_factory=list)
    eval_high: list[float] = field(default_factory=list)
    eval_bands: dict[str, list[float]] = field(default_factory=dict)


def from_weights(weights: dict[str, Tensor]) -> Builder:
    """Every variant from the 2D `weights`, its own trainable weights seeded by `seed`."""

    def build(
        variant: str, config: Config, seed: int, device: str, frozen: torch.dtype | None
    ) -> nn.Module:
        torch.manual_seed(seed)  # the trainable weights' start, the same for every variant
        model = build_unet(config, variant, device, frozen)
        load_spatial_weights(model, variant, weights)
        return model

    return build


def clip_batches(
    source: Source, seed: int, coherent: bool, settings: FinetuneSettings
) -> Iterator[Batch]:
    """The steps' batches for `seed`: clips from one stream, timesteps and noise from another,
    so that a control sees the same timesteps and noise as its run."""
    clips_gen = torch.Generator().manual_seed(seed)
    noise_gen = torch.Generator().manual_seed(seed + NOISE_OFFSET)
    for _ in range(settings.steps):
        clips = source.sample(settings.batch, clips_gen, coherent)
        timesteps = torch.randint(0, TRAIN_STEPS, (settings.batch,), generator=noise_gen)
        noise = torch.randn(clips.latents.shape, generator=noise_gen)
        yield Batch(clips.latents, source.contexts[clips.classes], timesteps, noise)


def finetune(
    config: Config,
    entry: Entry,
    start: Builder,
    source: Source,
    valset: ValidationSet,
    settings: FinetuneSettings,
    seed: int,
    coherent: bool = True,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    bar: Any = None,
    keep: Keep | None = None,
) -> Curve:
    """Fine-tune `entry` from the model `start` builds; its curve. `keep` gets the model
    once trained."""
    model = start(entry.variant, entry.config(config), seed, device, frozen_dtype(device, dtype))
    optimizer = make_optimizer(model, settings.lr)
    curve = Curve(entry.name, seed, coherent)
    seconds = 0.0
    _check(curve, model, valset, source, device, dtype, 0, seconds)
    for step, batch in enumerate(clip_batches(source, seed, coherent, settings), start=1):
        batch = batch.to(device)
        synchronize(device)
        start = time.perf_counter()
        loss = train_step(model, optimizer, batch, dtype)
        synchronize(device)
        took = time.perf_counter() - start
        seconds += took
        curve.train_loss.append(loss.item())
        curve.step_seconds.append(took)
        if bar is not None:
            bar.done()
            bar.doing(f"{entry.name} seed {seed} loss {curve.train_loss[-1]:.4f}")
        if step % settings.eval_every == 0 or step == settings.steps:
            _check(curve, model, valset, source, device, dtype, step, seconds)
    if keep is not None:
        keep(model)
    return curve


def _check(
    curve: Curve,
    model: torch.nn.Module,
    valset: ValidationSet,
    source: Source,
    device: str,
    dtype: torch.dtype,
    step: int,
    seconds: float,
) -> None:
    losses = evaluate(model, valset, source.contexts, device, dtype)
    curve.eval_steps.append(step)
    curve.eval_seconds.append(seconds)
    curve.eval_loss.append(losses.overall)
    curve.eval_high.append(losses.high)
    for name, value in losses.bands.items():
        curve.eval_bands.setdefault(name, []).append(value)
