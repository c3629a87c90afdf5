"""Stage 1: the 2D model, trained as a per-frame denoiser on single frames, cached.

The full 2D UNet learns to denoise single frames of the clips, with each clip's class
context, until its validation loss levels off or the cap is hit (`levelling`). Its weights
are cached as a safetensors file whose name holds the preset, shape, data and seed, and a
digest of every setting that changes the weights (the levelling rule, the cap, learning
rate, batch): a missing file is rebuilt, a corrupt one is a one-line error.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save
from torch import Tensor

from mobius_core.errors import BadInput
from mobius_core.models.config import Config
from mobius_core.models.variants import build_unet2d
from mobius_core.outputs import write_bytes_atomic
from mobius_core.training.data import Source
from mobius_core.training.devices import synchronize
from mobius_core.training.levelling import Levelling, fall, levelled, span, stopped
from mobius_core.training.step import TRAIN_STEPS, Batch, make_optimizer, train_step
from mobius_core.training.validation import ValidationSet, evaluate


@dataclass(frozen=True)
class PretrainSettings:
    levelling: Levelling  # when to stop: levelled off, or the cap
    batch: int  # single frames per step
    lr: float
    seed: int


@dataclass
class PretrainLog:
    """What stage 1 did: its validation curve and where and why it stopped."""

    steps_run: int = 0
    seconds: float = 0.0
    check_steps: list[int] = field(default_factory=list)
    check_loss: list[float] = field(default_factory=list)
    levelled: bool = False  # stopped because the loss levelled off, not at the cap
    fall: float | None = None  # levelling.fall over levelling.span's checks, at the stop
    stopped: str = ""  # why it stopped, in a sentence
    rule: dict[str, Any] = field(default_factory=dict)  # the levelling rule's parameters
    cached: bool = False  # read from the cache, not trained now
    path: str = ""


def cache_path(folder: Path, config: Config, source: Source, settings: PretrainSettings) -> Path:
    """The cache file of these weights: readable parts, then a digest of every setting."""
    key = {
        "preset": config.name,
        "frames": config.frames,
        "resolution": config.resolution,
        "data": source.name,
        **asdict(settings),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    name = (
        f"unet2d-{config.name}-f{config.frames}-r{config.resolution}-{source.name}"
        f"-seed{settings.seed}-{digest}.safetensors"
    )
    return folder / name


def frames_batch(source: Source, n: int, gen: torch.Generator) -> Batch:
    """`n` single frames, each a random frame of a fresh clip: latents `(n, 4, 1, h, w)`."""
    clips = source.sample(n, gen)
    frame = torch.randint(0, source.frames, (n,), generator=gen)
    latents = clips.latents[torch.arange(n), :, frame][:, :, None]  # (n, 4, 1, h, w)
    timesteps = torch.randint(0, TRAIN_STEPS, (n,), generator=gen)
    noise = torch.randn(latents.shape, generator=gen)
    return Batch(latents, source.contexts[clips.classes], timesteps, noise)


def pretrain(
    config: Config,
    source: Source,
    valset: ValidationSet,
    settings: PretrainSettings,
    device: str = "cpu",
    bar: Any = None,
) -> tuple[dict[str, Tensor], PretrainLog]:
    """Train the 2D UNet from a seeded start; its state dict (on the CPU) and its log."""
    torch.manual_seed(settings.seed)
    with torch.device(device):
        model = build_unet2d(config)
    optimizer = make_optimizer(model, settings.lr)
    gen = torch.Generator().manual_seed(settings.seed)
    rule = settings.levelling
    log = PretrainLog(rule=asdict(rule))
    for step in range(1, rule.max_steps + 1):
        batch = frames_batch(source, settings.batch, gen).to(device)
        start = _now(device)
        loss = train_step(model, optimizer, batch).item()
        log.seconds += _now(device) - start
        log.steps_run = step
        if bar is not None:
            bar.done()
            bar.doing(f"loss {loss:.4f}")
        if step % rule.check_every and step != rule.max_steps:
            continue
        log.check_steps.append(step)
        log.check_loss.append(evaluate(model, valset, source.contexts, device).overall)
        if levelled(log.check_loss, rule):
            log.levelled = True
            break
    log.fall = fall(log.check_loss, span(log.check_loss, rule))
    log.stopped = stopped(log.check_steps, log.check_loss, rule)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return state, log


def _now(device: str) -> float:
    synchronize(device)
    return time.perf_counter()


def save_cache(path: Path, state: dict[str, Tensor], log: PretrainLog) -> None:
    """The weights and the log as one safetensors file, written atomically."""
    metadata = {"log": json.dumps(asdict(log))}
    write_bytes_atomic(path, save(state, metadata=metadata), replace=True)


def load_cache(path: Path, config: Config) -> tuple[dict[str, Tensor], PretrainLog]:
    """The cached weights and log; a file that is not the 2D UNet of `config` is BadInput."""
    fix = "delete it to rebuild"
    try:
        state = load_file(path)
        with safe_open(path, "pt") as handle:
            log = PretrainLog(**json.loads((handle.metadata() or {})["log"]))
    except (SafetensorError, OSError, KeyError, TypeError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise BadInput(f"{path}: corrupt stage-1 cache ({reason}); {fix}") from None
    with torch.device("meta"):
        expected = {k: v.shape for k, v in build_unet2d(config).state_dict().items()}
    found = {k: v.shape for k, v in state.items()}
    if found != expected:
        raise BadInput(f"{path}: corrupt stage-1 cache (not a {config.name} 2D UNet); {fix}")
    log.cached, log.path = True, str(path)
    return state, log


def pretrained(
    folder: Path,
    config: Config,
    source: Source,
    valset: ValidationSet,
    settings: PretrainSettings,
    device: str = "cpu",
    bar: Any = None,
) -> tuple[dict[str, Tensor], PretrainLog]:
    """The stage-1 weights: from the cache when the file is there, else trained and cached."""
    path = cache_path(folder, config, source, settings)
    if path.exists():
        return load_cache(path, config)
    state, log = pretrain(config, source, valset, settings, device, bar)
    log.path = str(path)
    save_cache(path, state, log)
    return state, log
