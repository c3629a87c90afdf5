"""Stage 1's stopping rule: when its validation loss has levelled off, or the cap is hit.

The validation loss is checked every `check_every` steps. After a check it has levelled off
when the best of the last `window` checks improved on the best before them by less than
`threshold` (a fraction): (best before - best of the window) / best before < threshold.
Bests, not single checks, so that one noisy check neither stops training nor keeps it going.
Training stops there, or at `max_steps` (the cap), which the log then says plainly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Levelling:
    """The rule's parameters: every one of them changes where stage 1 stops."""

    check_every: int  # steps between validation checks
    window: int  # checks the fall is measured over
    threshold: float  # a fall below this fraction over the window is level
    max_steps: int  # the cap


def fall(losses: list[float], window: int) -> float | None:
    """How far the best of the last `window` checks fell below the best before them, as a
    fraction of that; None for a window of none or before `window + 1` checks."""
    if window < 1 or len(losses) <= window:
        return None
    before, now = min(losses[:-window]), min(losses[-window:])
    return (before - now) / before


def levelled(losses: list[float], rule: Levelling) -> bool:
    """Whether the checks so far show the loss levelled off under `rule`."""
    fell = fall(losses, rule.window)
    return fell is not None and fell < rule.threshold


def span(losses: list[float], rule: Levelling) -> int:
    """The checks a stop is described over: the rule's window, or all but the first when
    there are fewer (a cap hit early); 0 with one check or none."""
    return min(rule.window, len(losses) - 1) if losses else 0


def stopped(steps: list[int], losses: list[float], rule: Levelling) -> str:
    """Why stage 1 stopped, in one plain sentence for summary.md and converge.json.

    steps, losses: the checks so far, at their steps."""
    checks = span(losses, rule)
    if checks < 1:
        return f"stopped at the cap ({rule.max_steps} steps) after one check or none"
    fell = fall(losses, checks)
    assert fell is not None  # checks < len(losses)
    last = f"last {checks} checks" if checks > 1 else "last check"
    window = (
        f"the best of its {last} ({steps[-1] - steps[-1 - checks]} steps) was {fell:.1%}"
        f" below the best before them"
    )
    if levelled(losses, rule):
        return (
            f"its validation loss levelled off at step {steps[-1]}: {window}, under the"
            f" rule's {rule.threshold:.1%}"
        )
    return (
        f"stopped at the cap ({rule.max_steps} steps), still falling: {window}"
        f" (the rule wants under {rule.threshold:.1%} over {rule.window} checks)"
    )
