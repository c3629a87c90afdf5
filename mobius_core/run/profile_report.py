"""The profile's outputs: `profile.md` and, on CUDA, the memory timeline plot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch
from torch import nn

from mobius_core.measure.results import CompileResult
from mobius_core.models.config import Config
from mobius_core.models.variants import build_matched
from mobius_core.outputs import write_atomic
from mobius_core.progress import tracked
from mobius_core.report.markdown import size, table
from mobius_core.report.plots import save_figure
from mobius_core.report.record import Case
from mobius_core.run import modes
from mobius_core.run.profile_figures import LAUNCH_BOUND_BELOW, VariantProfile
from mobius_core.run.profiling import PHASES, profile_variant
from mobius_core.training.devices import DTYPES, frozen_dtype
from mobius_core.training.step import make_batch

PHASE_COLOURS = {"forward": "tab:blue", "backward": "tab:orange", "optimizer": "tab:green"}


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else ""


def variant_section(p: VariantProfile) -> str:
    phases = [
        {
            "phase": phase,
            "wall ms": _ms(p.phases_ms[phase]),
            "share of step": _share(p.phases_ms[phase], p.step_ms),
            **({"kernel ms": _ms(p.phases_kernel_ms[phase])} if p.phases_kernel_ms else {}),
        }
        for phase in PHASES
    ]
    phases.append(
        {
            "phase": "step",
            "wall ms": _ms(p.step_ms),
            "share of step": "100.0%",
            **({"kernel ms": _ms(p.kernel_ms)} if p.phases_kernel_ms else {}),
        }
    )
    forward = p.phases_ms["forward"]
    regions = [
        {
            "region (in forward)": region,
            "wall ms": _ms(ms),
            "share of forward": _share(ms, forward),
            **({"kernel ms": _ms(p.regions_kernel_ms.get(region))} if p.regions_kernel_ms else {}),
        }
        for region, ms in (p.regions_ms or {}).items()
    ]
    split = table(regions)
    if p.regions_ms is None:  # compiled: the graph bypasses the region markers
        split = f"Regions: {p.absent['regions']}; the phases, marked outside it, hold."
    if p.kernel_ratio is None:
        bound = "Kernel time against wall time: no GPU, so no kernel time (CPU times above)."
    else:
        bound = (
            f"Kernel time / wall time: **{p.kernel_ratio:.2f}**, so the step is"
            f" **{p.bound}** (below {LAUNCH_BOUND_BELOW} the GPU idles waiting for launches)."
        )
    parts = [
        f"## {p.variant}",
        "",
        f"{p.step_ms:.2f} ms per step, averaged over {p.steps} profiled steps.",
        "",
        *([compile_line(p.compile), ""] if p.compile else []),
        table(phases),
        "",
        split,
        "",
        bound,
        "",
        "Top operators (per step):",
        "",
        table(p.top_ops),
        "",
    ]
    if p.saved_by_region is not None:
        saved = [{"region": r, "saved for backward": size(b)} for r, b in p.saved_by_region.items()]
        parts += ["Bytes saved for backward, by region:", "", table(saved), ""]
    elif "saved_by_region" in p.absent:
        parts += [f"Bytes saved for backward, by region: {p.absent['saved_by_region']}.", ""]
    parts += ["Files: " + ", ".join(f"`{f}`" for f in p.files), ""]
    return "\n".join(parts)


def compile_line(cost: CompileResult) -> str:
    """What compiling cost one variant, and whether its profiled steps compiled anything."""
    settled = (
        f"a step compiled nothing after {cost.warmup_steps} warm-up steps"
        if cost.stable
        else f"still compiling after {cost.warmup_steps} warm-up steps"
    )
    cache = ""  # a warm FX-graph cache (an earlier run's compile) shortens the seconds
    if cost.cache_hits is not None:
        cache = f" FX-graph cache: {cost.cache_hits} hit(s), {cost.cache_misses} miss(es)."
    return (
        f"Compiled ({cost.backend}, compile mode {cost.compile_mode or 'default'}):"
        f" {_seconds(cost)} s compiling; {cost.compiles} graph(s) at the first step,"
        f" {cost.recompiles} recompile(s) after it; {settled};"
        f" **{cost.timed_recompiles} graph(s) compiled while profiled**." + cache
    )


def _compile_columns(cost: CompileResult | None) -> dict[str, str]:
    if cost is None:
        return {}
    return {"compile s": _seconds(cost), "recompiles": str(cost.recompiles)}


def _seconds(cost: CompileResult) -> str:
    return "(not measured)" if cost.seconds is None else f"{cost.seconds:.1f}"


def mode_sentence(case: Case) -> str:
    """The mode the steps ran under, for the profile's head."""
    if case.mode in ("ddp", "fsdp"):
        wrapper = "DDP over the trainable parameters" if case.mode == "ddp" else "FSDP2 per layer"
        return (
            f"Mode: {case.mode} ({wrapper}), {case.world_size} ranks, each on its own data:"
            " every rank profiled its own steps, so that the profiler's overhead fell on every"
            " rank alike; the figures below are rank 0's (its traces here, rank N's in"
            " `rankN/`), each rank's step time at the end."
            + (
                " On CPU (gloo) a correctness check, not a performance claim."
                if case.device == "cpu"
                else ""
            )
        )
    if case.mode != "compile":
        return "Mode: eager."
    return (
        f"Mode: compile (torch.compile, compile mode {case.compile_mode or 'default'},"
        f" backend {modes.BACKEND}): each variant compiled from scratch and warmed up until a"
        " step compiled nothing, then profiled; its compile seconds and recompiles are below."
        " The phases are marked outside the compiled model and hold; the regions are not"
        " split (their markers are module hooks, which the compiled graph bypasses)."
    )


def profile_markdown(
    config: Config, case: Case, profiles: list[VariantProfile], plot: str | None
) -> str:
    device, dtype = case.device, case.dtype
    overview = [
        {
            "variant": p.variant,
            "step ms": _ms(p.step_ms),
            "forward ms": _ms(p.phases_ms["forward"]),
            "backward ms": _ms(p.phases_ms["backward"]),
            "optimizer ms": _ms(p.phases_ms["optimizer"]),
            "kernel / wall": "" if p.kernel_ratio is None else f"{p.kernel_ratio:.2f}",
            "bound": p.bound or "n/a (CPU)",
            **_compile_columns(p.compile),
        }
        for p in profiles
    ]
    head = [
        "# mobius-bench profile",
        "",
        f"{config.name}: batch {config.batch}, {config.frames} frames, {config.resolution} px;"
        f" {device}, {dtype}. Phases are marked with `record_function` (on CUDA each ends with a"
        " synchronisation, so its wall time covers its kernels); regions are those the"
        " model's modules declare: spatial (the 2D UNet), temporal (motion modules) and"
        " bridges+fusion (`other`: the rest of the forward, the noising and the loss). Traces"
        " open in Perfetto or chrome://tracing"
        + ("; memory snapshots in https://pytorch.org/memory_viz." if device == "cuda" else "."),
        "",
        mode_sentence(case),
        "",
        table(overview),
        "",
    ]
    if plot:
        head += [f"Allocated memory over one step: `{plot}`", ""]
    return "\n".join(head + [variant_section(p) for p in profiles])


def timeline_plot(timelines: dict[str, dict[str, Any]], path: Path) -> None:
    """Allocated memory over one step, a row per variant, phases shaded."""
    fig, axes = plt.subplots(
        len(timelines), 1, figsize=(8, 2.4 * len(timelines)), squeeze=False, sharey=True
    )
    for ax, (variant, line) in zip(axes[:, 0], timelines.items(), strict=True):
        for phase, (start, end) in line["spans"].items():
            ax.axvspan(start, end, color=PHASE_COLOURS[phase], alpha=0.15, label=phase)
        ax.step(line["times_ms"], [b / 2**30 for b in line["bytes"]], where="post", color="black")
        ax.set_title(variant, fontsize=9)
        ax.set_ylabel("allocated (GiB,\\nfrom step start)")
        ax.legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("time in the step (ms)")
    save_figure(fig, path)


def write_profile(
    config: Config,
    variants: list[str],
    device: str,
    dtype: torch.dtype,
    steps: int,
    warmup: int,
    folder: Path,
    build: Callable[..., dict[str, nn.Module]] = build_matched,
    mode: str = "eager",
    compile_mode: str | None = None,
) -> list[str]:
    """Profile every variant (each once) into `folder`; returns the names of the files written.
    `build` makes the matched models (`build_matched`'s arguments; the user's checkpoint);
    `mode` is eager or compile, with torch.compile's `compile_mode`."""
    variants = list(dict.fromkeys(variants))
    dtype_name = next(name for name, value in DTYPES.items() if value == dtype)
    c = config
    shape = (c.name, c.batch, c.frames, c.resolution, dtype_name, device)
    case = Case(*shape, mode=mode, compile_mode=compile_mode)
    models = build(config, variants, device, frozen_dtype(device, dtype))
    batch = make_batch(config).to(device)
    profiles, timelines = [], {}
    for variant in tracked(variants, "profile"):
        result, timeline = profile_variant(
            variant, models.pop(variant), batch, dtype, device, steps, warmup, folder, case
        )
        profiles.append(result)
        timelines[variant] = timeline
    plot = None
    if device == "cuda":  # on CPU, profile.md gives saved bytes by region instead
        plot = "memory_timeline.png"
        timeline_plot(timelines, folder / plot)
    write_atomic(folder / "profile.md", profile_markdown(config, case, profiles, plot))
    return ["profile.md", *([plot] if plot else []), *(f for p in profiles for f in p.files)]
