"""A folder of precomputed latent clips (`--data DIR`): a user's own encoded videos.

Each `*.safetensors` file holds one tensor `(4, f, h, w)` of the run's shape (h = w =
resolution / 8), already scaled as the model expects (Stable Diffusion: the VAE's output
times 0.18215); any other shape is a one-line error naming the file. The files sorted by
name are split: the last eighth (at least one) is the held-out validation set. There are
no classes: every clip gets the same fixed context.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from mobius_core.errors import BadInput
from mobius_core.models.config import VAE_FACTOR, Config
from mobius_core.training.data import CONTEXT_SEED, Clips


def expected_shape(config: Config) -> tuple[int, int, int, int]:
    """The latent clip `config` takes: `(c, f, h, w)`."""
    side = config.resolution // VAE_FACTOR
    return (config.latent_channels, config.frames, side, side)


def read_clip(path: Path, config: Config) -> torch.Tensor:
    """The one tensor of `path`, of `expected_shape(config)`; BadInput on anything else."""
    try:
        tensors = load_file(path)
    except (SafetensorError, OSError) as error:
        raise BadInput(f"{path}: not a readable safetensors file ({error})") from None
    if len(tensors) != 1:
        raise BadInput(f"{path}: expected one tensor, found {len(tensors)}")
    (clip,) = tensors.values()
    expected = expected_shape(config)
    if tuple(clip.shape) != expected:
        raise BadInput(
            f"{path}: expected a {expected} tensor (channels, frames, height, width) for"
            f" --preset {config.name} --frames {config.frames} --resolution"
            f" {config.resolution}, got {tuple(clip.shape)}"
        )
    return clip.float()


class LatentFolder:
    """Clips read once from a folder; the training part is sampled, the rest held out."""

    scale = 1.0

    def __init__(self, folder: Path, config: Config) -> None:
        files = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
        if len(files) < 2:
            raise BadInput(f"--data {folder}: needs a folder with at least two *.safetensors")
        clips = [read_clip(f, config) for f in files]
        held = max(1, len(clips) // 8)
        if len(clips) - held < 2:
            raise BadInput(
                f"--data {folder}: 1 training clip ({held} of {len(clips)} held out); the"
                " control draws each frame from a random training clip, so with one it would"
                " train on the run's own clip: give at least 3 clips"
            )
        self.train = torch.stack(clips[:-held])  # (n, 4, f, h, w)
        self.held = torch.stack(clips[-held:])
        self.frames = config.frames
        gen = torch.Generator().manual_seed(CONTEXT_SEED)
        self.contexts = torch.randn(1, config.context_len, config.context_dim, generator=gen)
        digest = hashlib.sha256()  # names and contents: new clips never reuse a cached stage 1
        for path, clip in zip(files, clips, strict=True):
            digest.update(path.name.encode())
            digest.update(clip.contiguous().numpy().tobytes())
        self.name = f"data-{digest.hexdigest()[:10]}"

    def sample(self, n: int, gen: torch.Generator, coherent: bool = True) -> Clips:
        """`n` training clips drawn from `gen`; incoherent: each frame from a random clip."""
        count = len(self.train)
        if coherent:
            latents = self.train[torch.randint(0, count, (n,), generator=gen)]
        else:
            which = torch.randint(0, count, (n, self.frames), generator=gen)  # (n, f)
            frame = torch.arange(self.frames).expand(n, -1)  # (n, f)
            latents = self.train[which, :, frame].permute(0, 2, 1, 3, 4)  # (n, 4, f, h, w)
        return Clips(latents, torch.zeros(n, dtype=torch.long))

    def validation(self, n: int, seed: int) -> Clips:
        """The held-out clips in turn, `n` of them (repeating when there are fewer)."""
        latents = self.held[torch.arange(n) % len(self.held)]
        return Clips(latents, torch.zeros(n, dtype=torch.long))
