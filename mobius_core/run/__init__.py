"""Running: cases and the matrix, the per-variant memory process, the runner, the dry run,
the quick step and profiling.

May import: torch, models, training, measure, report (to build records and write reports).
"""

from mobius_core.interop import peer as _peer  # noqa: F401  registers diffusers-serial
