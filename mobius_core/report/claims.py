"""The paper's claims and their verdicts: PASS, FAIL or INCONCLUSIVE."""

from __future__ import annotations

from dataclasses import dataclass

MEMORY_CLAIM = 0.24  # "24% less GPU memory"
TIME_CLAIM = 0.12  # "12% less training time"
PASS, FAIL, INCONCLUSIVE, NA = "PASS", "FAIL", "INCONCLUSIVE", "n/a"


def verdict_interval(low: float, high: float, claim: float) -> str:
    """A saving's 95% interval against a claimed saving.

    PASS when the whole interval reaches the claim, FAIL when it lies wholly below,
    INCONCLUSIVE when it straddles the claim.
    """
    if low > high:
        raise ValueError(f"interval: low {low} is above high {high}")
    if low >= claim:
        return PASS
    if high < claim:
        return FAIL
    return INCONCLUSIVE


def verdict_value(saving: float, claim: float) -> str:
    """A saving without sampling noise (memory): PASS when it reaches the claim."""
    return PASS if saving >= claim else FAIL


@dataclass(frozen=True)
class Saving:
    """The saving of a variant over serial: 1 - ratio, with its interval where timed."""

    value: float
    low: float | None = None
    high: float | None = None

    @classmethod
    def from_ratio(
        cls, ratio: float, low: float | None = None, high: float | None = None
    ) -> Saving:
        # a ratio's upper bound is the saving's lower bound
        return cls(1 - ratio, None if high is None else 1 - high, None if low is None else 1 - low)

    def verdict(self, claim: float) -> str:
        if self.low is None or self.high is None:
            return verdict_value(self.value, claim)
        return verdict_interval(self.low, self.high, claim)

    def text(self) -> str:
        if self.low is None or self.high is None:
            return f"{self.value:+.1%}"
        return f"{self.value:+.1%} [{self.low:+.1%}, {self.high:+.1%}]"
