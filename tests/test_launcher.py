"""Each variant's memory measured alone: `resident_before` holds its own state only."""

from __future__ import annotations

from torch import nn

from mobius_core.models.variants import VARIANTS, build_matched
from mobius_core.run.case import config, make_case
from mobius_core.run.launcher import ISOLATED, Job, isolated
from mobius_core.run.passes import memory_pass
from mobius_core.training.step import make_batch, make_optimizer, train_step

CASE = make_case("tiny", 1, 2, 64, "fp32", "cpu", rounds=2, warmup=1)
TOLERANCE = 0.05


def own_bytes(model: nn.Module) -> int:
    """Hand count: fp32 parameters and buffers, AdamW's two moments and one step scalar
    per trainable tensor, and the batch (latents, context, noise in fp32, int64 steps)."""
    state = sum(t.numel() * 4 for t in [*model.parameters(), *model.buffers()])
    trainable = [p for p in model.parameters() if p.requires_grad]
    adamw = sum(2 * p.numel() * 4 + 4 for p in trainable)
    c = config(CASE)
    latents = c.batch * c.latent_channels * c.frames * (c.resolution // 8) ** 2
    batch = 2 * latents * 4 + c.batch * c.context_len * c.context_dim * 4 + c.batch * 8
    return state + adamw + batch


def test_co_resident_variants_inflate_resident_before() -> None:
    """The old design, every variant alive in one process, fails the 5% check."""
    models = build_matched(config(CASE), list(VARIANTS))
    model, batch = models["serial"], make_batch(config(CASE))
    optimizer = make_optimizer(model)
    train_step(model, optimizer, batch)  # AdamW's state exists from the first step on
    memory, _ = memory_pass(model, optimizer, batch, CASE, [])
    assert memory.resident_before > (1 + TOLERANCE) * own_bytes(model)


def test_a_process_per_variant_holds_only_its_own_state() -> None:
    job = Job("serial", (CASE,), flops=False)
    memory = isolated(job)[CASE.key].memory
    expected = own_bytes(build_matched(config(CASE), ["serial"])["serial"])
    assert memory.isolation == ISOLATED
    assert abs(memory.resident_before - expected) <= TOLERANCE * expected, (
        memory.resident_before,
        expected,
    )
