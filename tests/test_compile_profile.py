"""`mobius-bench profile --mode compile`: each variant compiled from scratch and warmed up
until a step compiles nothing, so no profiled step holds compilation (and any that does is
counted); phases marked, regions absent with their reason; one-line errors for ddp and fsdp
without ranks (--nproc) and for --compile-mode without compile.

dynamo's `eager` backend stands in for inductor, as in test_compile.py: it traces and counts
the same graphs without compiling C++."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from mobius_core.cli import main
from mobius_core.measure.results import CompileResult
from mobius_core.models.config import preset
from mobius_core.run import modes, profiling
from mobius_core.run.case import make_case
from mobius_core.run.profile_figures import BYPASSED
from mobius_core.run.profiling import PHASES, REGIONS, STEP, phase_name, region_name
from mobius_core.training.step import make_batch

CASE = make_case("tiny", 1, 2, 64, "fp32", "cpu", rounds=2, warmup=0, mode="compile")
BATCH = make_batch(preset("tiny", frames=2))


class Mix(nn.Module):
    """A stand-in variant whose forward dynamo compiles as exactly one graph: a trainable
    1x1x1 convolution over the latent channels, 4 -> 4, no graph break."""

    def __init__(self) -> None:
        super().__init__()
        self.mix = nn.Conv3d(4, 4, 1, bias=False)

    def forward(self, latents: Tensor, timesteps: Tensor, context: Tensor) -> Tensor:
        return self.mix(latents)  # (b, 4, f, h, w)


@pytest.fixture(autouse=True)
def eager_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(modes, "BACKEND", "eager")
    torch._dynamo.reset()


@pytest.fixture(scope="module")
def compiled_profile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`profile --mode compile` of mobius at tiny, 2 frames: its output folder."""
    out = tmp_path_factory.mktemp("compiled") / "profile"
    argv = ["profile", "--preset", "tiny", "--frames", "2", "--variants", "mobius"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(modes, "BACKEND", "eager")
        torch._dynamo.reset()
        assert (
            main([*argv, "--mode", "compile", "--steps", "1", "--warmup", "0", "--out", str(out)])
            == 0
        )
    yield out


def _names(folder: Path) -> set[str]:
    trace = next(folder.glob("mobius-trace.json*"))
    opener = gzip.open if trace.suffix == ".gz" else open
    with opener(trace, "rt") as handle:
        return {event.get("name") for event in json.load(handle)["traceEvents"]}


def test_compiled_profile_marks_the_phases_and_no_region(compiled_profile: Path) -> None:
    names = _names(compiled_profile)
    assert {STEP, *(phase_name(p) for p in PHASES)} <= names
    assert not {region_name(r) for r in REGIONS} & names  # no hook ran inside the graph


def test_profile_md_names_the_mode_its_cost_and_why_no_regions(compiled_profile: Path) -> None:
    text = (compiled_profile / "profile.md").read_text()
    assert "Mode: compile (torch.compile, compile mode default, backend eager)" in text
    assert "| compile s | recompiles |" in text
    assert f"Regions: {BYPASSED}; the phases, marked outside it, hold." in text
    assert f"Bytes saved for backward, by region: {BYPASSED}." in text
    assert "| region (in forward) |" not in text  # no table of zeros
    assert "0 recompile(s) after it; a step compiled nothing after 2 warm-up steps" in text
    assert "**0 graph(s) compiled while profiled**. FX-graph cache: 0 hit(s), 0 miss(es)." in text
    for phase in PHASES:
        assert f"| {phase} |" in text


def _profile(model: nn.Module, folder: Path) -> CompileResult:
    result, _ = profiling.profile_variant(
        "mix", model, BATCH, torch.float32, "cpu", 1, 0, folder, CASE
    )
    assert result.compile is not None and result.regions_ms is None
    assert result.absent == {"regions": BYPASSED, "saved_by_region": BYPASSED}
    return result.compile


def test_each_variant_compiles_from_scratch_and_is_warm_when_profiled(tmp_path: Path) -> None:
    # Hand-worked: Mix's forward is one graph, compiled by the first warm-up step; the
    # second compiles nothing, so the warm-up ends after 2 steps and the profiled step
    # compiles nothing. A second instance of the same class compiles its graph anew
    # (dynamo would otherwise reuse the first one's: 0 graphs at its first step).
    for _ in range(2):
        cost = _profile(Mix(), tmp_path)
        assert (cost.compiles, cost.recompiles, cost.warmup_steps) == (1, 0, 2)
        assert cost.stable and cost.timed_recompiles == 0 and cost.backend == "eager"


def test_a_graph_compiled_while_profiled_is_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With a warm-up that runs no step, Mix's one graph is compiled by the profiled step.
    idle = CompileResult(compiles=0, recompiles=0, warmup_steps=0, stable=False)
    monkeypatch.setattr(profiling, "warm_up", lambda step, backend, mode: idle)
    assert _profile(Mix(), tmp_path).timed_recompiles == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mode", "fsdp"], "--mode fsdp: needs ranks; add --nproc N"),
        (["--mode", "ddp"], "--mode ddp: needs ranks; add --nproc N"),
        (["--compile-mode", "max-autotune"], "--compile-mode: needs --mode compile"),
    ],
)
def test_profile_refuses_what_one_process_cannot_run(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["profile", *argv, "--out", str(tmp_path / "never")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mobius-bench: error: {message}") and err.count("\n") == 1
    assert not (tmp_path / "never").exists()
