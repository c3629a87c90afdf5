"""converge's data: objects rendered where hand-worked, moving at constant speed inside the
frame; incoherent clips keep the class but lose the motion."""

from __future__ import annotations

import torch

from mobius_core.models.config import preset
from mobius_core.training.data import (
    COLOURS,
    ShapeClips,
    moving_objects,
    paths,
    render,
)


def test_render_square_and_disc_by_hand() -> None:
    """Centre (4, 4), radius 2 on 8 px: pixel centres 2.5..5.5 -> a 4x4 square; the disc
    drops the four corners (offsets 1.5, 1.5: 4.5 > 4)."""
    centres = torch.tensor([[[4.0, 4.0]], [[4.0, 4.0]]])  # (2, 1, 2)
    colour = torch.tensor([[1.0, -1.0, -1.0], [1.0, -1.0, -1.0]])
    back = torch.full((2, 3, 1, 8, 8), -1.0)
    pixels = render(torch.tensor([0, 1]), colour, centres, torch.full((2, 1), 2.0), back)
    lit = pixels[:, 0, 0] > 0  # (2, 8, 8): red channel
    square = torch.zeros(8, 8, dtype=torch.bool)
    square[2:6, 2:6] = True
    disc = square.clone()
    for y, x in ((2, 2), (2, 5), (5, 2), (5, 5)):
        disc[y, x] = False
    assert torch.equal(lit[0], square)
    assert torch.equal(lit[1], disc)
    assert pixels[0, :, 0, 0, 0].tolist() == [-1.0, -1.0, -1.0]  # the background


def test_paths_move_at_constant_speed_inside_the_frame() -> None:
    gen = torch.Generator().manual_seed(3)
    centres, radius = paths(64, 8, 64, gen)  # (64, 8, 2), (64,)
    steps = centres[:, 1:] - centres[:, :-1]  # (64, 7, 2)
    assert torch.allclose(steps, steps[:, :1].expand_as(steps), atol=1e-4)  # constant velocity
    assert (steps[:, 0].norm(dim=1) > 0.5).all()  # every object moves
    r = radius[:, None, None]
    assert (centres - r >= -1e-4).all() and (centres + r <= 64 + 1e-4).all()  # whole object in


def test_rendered_clip_follows_its_path() -> None:
    """The lit pixels' centroid in each frame is the path's centre (to rasterisation)."""
    classes = torch.tensor([0, 5])  # a red square, a green disc
    clip = moving_objects(classes, 6, 64, torch.Generator().manual_seed(1))
    centres, _ = paths(2, 6, 64, torch.Generator().manual_seed(1))
    grid = torch.arange(64.0) + 0.5
    for i, channel in ((0, 0), (1, 1)):  # each object lights its own colour channel
        assert COLOURS[classes[i] % 4][channel] == 1.0
        for f in range(6):
            lit = (clip[i, channel, f] > 0).float()  # (64, 64)
            centroid = torch.stack([(lit.sum(1) * grid).sum(), (lit.sum(0) * grid).sum()])
            assert torch.allclose(centroid / lit.sum(), centres[i, f], atol=0.5)


def test_incoherent_clip_keeps_class_loses_motion() -> None:
    classes = torch.tensor([2] * 16)  # blue squares
    clip = moving_objects(classes, 8, 64, torch.Generator().manual_seed(4), coherent=False)
    grid = torch.arange(64.0) + 0.5
    lit = clip[:, 2] > 0  # (16, 8, 64, 64): blue channel
    assert lit.flatten(2).any(-1).all()  # the object is in every frame
    assert ((clip[:, 0] > 0) | (clip[:, 1] > 0)).sum() == 0  # and it is always blue
    ys = (lit.float().sum(-1) * grid).sum(-1) / lit.float().sum((-1, -2))  # (16, 8)
    second = ys[:, 2:] - 2 * ys[:, 1:-1] + ys[:, :-2]  # zero for constant speed
    assert second.abs().mean() > 3.0  # pixels: the positions jump about


def test_latents_have_unit_rms_and_fixed_contexts() -> None:
    config = preset("tiny", frames=4, resolution=64)
    source = ShapeClips(config)
    clips = source.validation(16, seed=5)
    assert clips.latents.shape == (16, 4, 4, 8, 8)
    assert 0.8 < clips.latents.pow(2).mean().sqrt().item() < 1.25
    assert clips.classes.tolist() == [k % 8 for k in range(16)]
    assert torch.equal(source.contexts, ShapeClips(config).contexts)  # fixed per class
    assert source.contexts.shape == (8, 77, 768)


def test_background_stays_in_a_clip_and_changes_between_frames_of_a_control() -> None:
    classes = torch.tensor([1, 6])  # a green square, a blue disc
    clip = moving_objects(classes, 4, 64, torch.Generator().manual_seed(2))
    control = moving_objects(classes, 4, 64, torch.Generator().manual_seed(2), coherent=False)
    for pixels in (clip, control):
        assert pixels.max() == 1.0 and pixels[pixels < 1].max() <= -0.4  # objects stand out
    bare = (clip < 1).all(1)  # (2, 4, 64, 64): no object in any channel
    both = bare[:, 0] & bare[:, 1]  # not covered in frames 0 and 1
    assert torch.equal(clip[:, :, 0][both[:, None].expand(-1, 3, -1, -1)],
                       clip[:, :, 1][both[:, None].expand(-1, 3, -1, -1)])  # fmt: skip
    assert (control[:, :, 0] != control[:, :, 1]).float().mean() > 0.5
