"""A new variant is one spec plus its model: registered here, it runs through the step, the
suite and the report without a change to any other file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from torch import nn

from mobius_core.models.config import Config, preset
from mobius_core.models.temporal import TemporalTransformer
from mobius_core.models.unet import Layer, UNet
from mobius_core.models.variants import VARIANTS, VariantSpec, buildable, register
from mobius_core.report.runs import load_all
from mobius_core.report.summary import write_report
from mobius_core.run.bench import run_bench
from mobius_core.run.launcher import run_job
from mobius_core.run.matrix import parse
from mobius_core.run.quickstep import quick_steps

NAME = "serial-half"


def every_other_motion_module(config: Config) -> nn.Module:
    """Serial with the motion modules of every second layer taken out."""
    model = UNet(config, temporal=True)
    layers = [m for m in model.modules() if isinstance(m, Layer) and m.temporal is not None]
    for layer in layers[1::2]:
        layer.temporal = None
    return model


@pytest.fixture
def throwaway() -> Iterator[str]:
    register(
        VariantSpec(
            NAME, every_other_motion_module, "serial, half", "tab:olive", (TemporalTransformer,)
        )
    )
    yield NAME
    del VARIANTS[NAME]


def test_it_runs_through_step_suite_and_report(throwaway: str, tmp_path: Path) -> None:
    rows = quick_steps(preset("tiny", frames=2), "cpu", "fp32", buildable())
    assert [r["variant"] for r in rows if "status" not in r][-1] == throwaway

    options = {"preset": "tiny", "frames": "2", "rounds": "2", "warmup": "0", "batch": "1"}
    out = tmp_path / "run.json"
    run_bench(parse({**options, "variants": f"serial,{throwaway}"}), out, run_job, lambda _: None)
    measured, predicted = load_all([out])
    records = {r.variant.name: r for r in measured[0].records}
    assert records[throwaway].status == "ok"
    serial, half = (records[v].params.trainable for v in ("serial", throwaway))
    assert 0 < half < serial
    assert records[throwaway].variant.colour == "tab:olive"

    files = write_report(measured, predicted, tmp_path)
    assert "summary.md" in files
    assert f"| {throwaway} | ok |" in (tmp_path / "summary.md").read_text()
