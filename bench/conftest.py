"""Options, the case matrix, shared models and machine info for the benchmark suite.

pytest bench/ --benchmark-json run.json [--preset P] [--variants a,b] [--frames 8,16]
    [--resolution 256] [--batch 1,2] [--dtype bf16] [--device cuda] [--rounds 8]
    [--warmup 2]
"""

from __future__ import annotations

import gc
from typing import Any

import pytest
import torch
from torch import nn

from mobius_core.measure.environment import environment
from mobius_core.models.variants import build_matched
from mobius_core.report.runs import FAILED_KEY  # records of cases that ran out of memory or failed
from mobius_core.run.matrix import Options, cases, variants
from mobius_core.run.runner import Case, CaseRun, release
from mobius_core.training.devices import frozen_dtype, resolve_device, resolve_dtype


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mobius-bench")
    group.addoption("--preset", help="tiny, small or sd15 (default: the device's matrix)")
    group.addoption("--variants", help="comma-separated, default: all")
    group.addoption("--frames", help="comma-separated frame counts")
    group.addoption("--resolution", help="comma-separated pixel sizes")
    group.addoption("--batch", help="comma-separated batch sizes")
    group.addoption("--dtype", help="fp32, bf16 or fp16 (default: bf16 on CUDA, fp32 on CPU)")
    group.addoption("--device", default="auto", help="auto, cpu or cuda")
    group.addoption("--rounds", help="timed rounds per variant")
    group.addoption("--warmup", help="warm-up rounds per variant")


def _ints(config: pytest.Config, name: str, least: int = 1) -> list[int] | None:
    """A comma-separated option as whole numbers of at least `least`, or None if not given."""
    text = config.getoption(name)
    if text is None:
        return None
    try:
        values = [int(v) for v in str(text).split(",")]
    except ValueError:
        raise pytest.UsageError(f"--{name}: expected whole numbers, got {text!r}") from None
    if any(v < least for v in values):
        rule = "must be positive" if least == 1 else f"must be at least {least}"
        raise pytest.UsageError(f"--{name}: {rule}, got {text!r}")
    return values


def _options(config: pytest.Config) -> Options:
    try:
        device = resolve_device(config.getoption("device"))
        dtype = config.getoption("dtype")
        if dtype is not None:
            resolve_dtype(dtype, device)
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    rounds, warmup = _ints(config, "rounds"), _ints(config, "warmup", least=0)
    names = config.getoption("variants")
    return Options(
        device=device,
        preset=config.getoption("preset"),
        variants=names.split(",") if names else None,
        batch=_ints(config, "batch"),
        frames=_ints(config, "frames"),
        resolution=_ints(config, "resolution"),
        dtype=dtype,
        rounds=rounds[0] if rounds else None,
        warmup=warmup[0] if warmup else None,
    )


def pytest_configure(config: pytest.Config) -> None:
    """Check the options before collection, so that a bad one is a one-line usage error."""
    options = _options(config)
    try:
        config.stash[MATRIX] = (cases(options), variants(options))
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" not in metafunc.fixturenames:
        return
    matrix, names = metafunc.config.stash[MATRIX]
    pairs = [(c, v) for c in matrix for v in names]  # variants of a case run together
    ids = [f"{c.key}-{v}" for c, v in pairs]
    metafunc.parametrize(("case", "variant"), pairs, ids=ids)


class Suite:
    """Models built once per (preset, device) and reused across shapes; one run per case."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self._models: tuple[tuple[str, str, str], dict[str, nn.Module]] | None = None
        self._run: CaseRun | None = None  # one case's state at a time
        self.failed: list[dict[str, Any]] = []

    def models(self, case: Case) -> dict[str, nn.Module]:
        key = (case.preset, case.device, case.dtype)
        if self._models is None or self._models[0] != key:
            self._models = self._run = None
            release(case.device)
            frozen = frozen_dtype(case.device, case.torch_dtype)
            built = build_matched(case.config(), self.names, case.device, frozen)
            self._models = (key, built)
        return self._models[1]

    def run(self, case: Case) -> CaseRun:
        if self._run is None or self._run.case != case:
            self._run = None
            gc.collect()
            run = CaseRun(case, self.models(case))
            run.run_interleaved()
            self._run = run
        return self._run


@pytest.fixture(scope="session")
def suite(request: pytest.FixtureRequest) -> Suite:
    suite = Suite(request.config.stash[MATRIX][1])
    request.config.stash[SUITE] = suite
    return suite


SUITE = pytest.StashKey[Suite]()
MATRIX = pytest.StashKey[tuple[list[Case], list[str]]]()


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    env = environment()
    machine_info["mobius"] = env
    machine_info["gpu"] = env.get("gpu")
    machine_info["torch"] = torch.__version__


def pytest_benchmark_update_json(
    config: pytest.Config, benchmarks: list, output_json: dict
) -> None:
    suite = config.stash.get(SUITE, None)
    output_json[FAILED_KEY] = suite.failed if suite else []
