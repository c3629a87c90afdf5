"""Running: cases and the matrix, the per-variant memory process, the runner, the dry run,
the quick step and profiling.

May import: torch, models, training, measure, report (to build records and write reports).
"""
