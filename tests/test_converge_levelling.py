"""Stage 1's levelling rule, worked by hand, and the training loop that obeys it.

Checks every 10 steps, window 2, threshold 5%. The series 1.0, 0.7, 0.6, 0.69, 0.5, 0.45,
0.44, 0.435, by check (best before the window -> best of the window):
  check 3 (step 30): 1.0 -> 0.6, 40% ;  check 4: 0.7 -> 0.6, 14.3% (0.69 alone would have
  been 1.4% below 0.7, the check two back: the bests keep going) ;  check 5: 0.6 -> 0.5,
  16.7% ;  check 6: 0.6 -> 0.45, 25% ;  check 7: 0.5 -> 0.44, 12% ;
  check 8 (step 80): 0.45 -> 0.435, 3.3% < 5%: levelled off, stop at step 80.
With a cap of 50 steps it stops at check 5, still falling by 16.7% over the last 20 steps;
with a cap of 20, after two checks, by (1.0 - 0.7) / 1.0 = 30% over its last check.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mobius_core.models.config import preset
from mobius_core.training import pretrain as stage1
from mobius_core.training.data import ShapeClips
from mobius_core.training.levelling import Levelling, fall, levelled, stopped
from mobius_core.training.validation import Losses

SERIES = [1.0, 0.7, 0.6, 0.69, 0.5, 0.45, 0.44, 0.435]
RULE = Levelling(check_every=10, window=2, threshold=0.05, max_steps=200)


def test_fall_is_the_windows_best_below_the_best_before() -> None:
    assert fall(SERIES[:2], 2) is None  # two checks: nothing before the window
    assert fall(SERIES[:1], 0) is None  # no window: nothing to measure
    expected = [0.4, 1 / 7, 1 / 6, 0.25, 0.12, 1 / 30]  # checks 3..8, by hand
    for n, want in zip(range(3, 9), expected, strict=True):
        assert fall(SERIES[:n], 2) == pytest.approx(want)
    assert [levelled(SERIES[:n], RULE) for n in range(1, 9)] == [False] * 7 + [True]
    assert levelled([1.0, 0.9, 1.1, 1.2], RULE)  # rose: levelled too


def test_stopped_says_why() -> None:
    steps = [10 * (i + 1) for i in range(8)]
    assert stopped(steps, SERIES, RULE) == (
        "its validation loss levelled off at step 80: the best of its last 2 checks (20 steps)"
        " was 3.3% below the best before them, under the rule's 5.0%"
    )
    capped = Levelling(10, 2, 0.05, max_steps=50)
    assert stopped(steps[:5], SERIES[:5], capped) == (
        "stopped at the cap (50 steps), still falling: the best of its last 2 checks"
        " (20 steps) was 16.7% below the best before them (the rule wants under 5.0% over"
        " 2 checks)"
    )
    early = Levelling(10, 2, 0.05, max_steps=20)
    assert stopped(steps[:2], SERIES[:2], early) == (
        "stopped at the cap (20 steps), still falling: the best of its last check"
        " (10 steps) was 30.0% below the best before them (the rule wants under 5.0% over"
        " 2 checks)"
    )
    assert stopped(steps[:1], SERIES[:1], Levelling(10, 2, 0.05, max_steps=10)) == (
        "stopped at the cap (10 steps) after one check or none"
    )


@pytest.mark.parametrize(
    ("cap", "steps_run", "level", "fell"),
    [(200, 80, True, 1 / 30), (50, 50, False, 1 / 6), (20, 20, False, 0.3), (10, 10, False, None)],
)
def test_pretrain_stops_where_the_rule_says(
    monkeypatch: pytest.MonkeyPatch, cap: int, steps_run: int, level: bool, fell: float | None
) -> None:
    """The series above as the validation losses: it stops at step 80, or at the cap."""
    losses = iter(SERIES)
    config = preset("tiny", frames=2)
    source = ShapeClips(config)
    batch = stage1.frames_batch(source, 1, torch.Generator().manual_seed(0))
    monkeypatch.setattr(stage1, "frames_batch", lambda *args: batch)
    monkeypatch.setattr(stage1, "train_step", lambda *args: torch.tensor(1.0))
    monkeypatch.setattr(stage1, "evaluate", lambda *args: Losses(next(losses), 0.0, {}))
    rule = Levelling(10, 2, 0.05, max_steps=cap)
    settings = stage1.PretrainSettings(rule, batch=1, lr=1e-3, seed=0)
    _, log = stage1.pretrain(config, source, None, settings)  # type: ignore[arg-type]
    assert log.steps_run == steps_run and log.levelled is level
    assert log.check_steps == list(range(10, steps_run + 1, 10))
    assert log.fall == (None if fell is None else pytest.approx(fell))
    assert log.stopped.startswith("its validation" if level else "stopped at the cap")
    assert log.rule == {"check_every": 10, "window": 2, "threshold": 0.05, "max_steps": cap}


def test_cache_key_holds_every_setting_that_changes_the_weights(tmp_path: Path) -> None:
    config = preset("tiny", frames=2)
    source = ShapeClips(config)
    base = stage1.PretrainSettings(RULE, batch=32, lr=1e-3, seed=0)
    path = stage1.cache_path(tmp_path, config, source, base)
    assert path.name.startswith("unet2d-tiny-f2-r64-shapes-v2-seed0-")
    assert path == stage1.cache_path(tmp_path, config, source, base)  # same settings, same file
    changed = [
        stage1.PretrainSettings(RULE, batch=16, lr=1e-3, seed=0),
        stage1.PretrainSettings(RULE, batch=32, lr=2e-3, seed=0),
        stage1.PretrainSettings(RULE, batch=32, lr=1e-3, seed=1),
        stage1.PretrainSettings(Levelling(10, 2, 0.05, 100), batch=32, lr=1e-3, seed=0),
        stage1.PretrainSettings(Levelling(10, 3, 0.05, 200), batch=32, lr=1e-3, seed=0),
        stage1.PretrainSettings(Levelling(10, 2, 0.02, 200), batch=32, lr=1e-3, seed=0),
        stage1.PretrainSettings(Levelling(20, 2, 0.05, 200), batch=32, lr=1e-3, seed=0),
    ]
    paths = {stage1.cache_path(tmp_path, config, source, s) for s in changed}
    assert len(paths) == len(changed) and path not in paths
    other = preset("tiny", frames=4)  # another shape, another file
    assert stage1.cache_path(tmp_path, other, ShapeClips(other), base) != path
