"""What `mobius-bench profile` finds for one variant: per-step times by phase and region,
its top operators, and (on CUDA) kernel time and whether the step is launch-bound."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mobius_core.measure.results import CompileResult

LAUNCH_BOUND_BELOW = 0.8  # kernel time / wall time under this: the GPU waits on launches
BYPASSED = (  # why a compiled profile gives no region split
    "not split under torch.compile: the region markers are module hooks, and the compiled"
    " graph runs the model's layers without them"
)


@dataclass
class VariantProfile:
    """Per-step figures of one variant's profiled steps."""

    variant: str
    steps: int
    step_ms: float
    phases_ms: dict[str, float]
    regions_ms: dict[str, float] | None  # in the forward, `other` its remainder; None: compiled
    top_ops: list[dict[str, Any]]
    kernel_ms: float | None = None  # summed kernel time per step (CUDA)
    phases_kernel_ms: dict[str, float] | None = None
    regions_kernel_ms: dict[str, float] | None = None
    saved_by_region: dict[str, int] | None = None
    files: list[str] = field(default_factory=list)
    compile: CompileResult | None = None  # --mode compile: its cost; timed_recompiles: profiled
    absent: dict[str, str] = field(default_factory=dict)  # figure -> why it is not given

    @property
    def kernel_ratio(self) -> float | None:
        return None if self.kernel_ms is None else self.kernel_ms / self.step_ms

    @property
    def bound(self) -> str | None:
        ratio = self.kernel_ratio
        if ratio is None:
            return None
        return "GPU-bound" if ratio >= LAUNCH_BOUND_BELOW else "launch-bound"
