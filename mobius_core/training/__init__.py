"""Training: seeded moving-shape clips, the matched fine-tuning step, device and dtype policy.

May import: torch, models. Nothing from measure, run or report.
"""
