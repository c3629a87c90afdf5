"""Shared fixtures: the tiny preset and its three variants with matched weights."""

from __future__ import annotations

import pytest
import torch

from mobius_core.models.config import Config, preset
from mobius_core.models.variants import BUILT_IN, build_matched
from mobius_core.training.step import Batch, make_batch


@pytest.fixture(scope="session")
def tiny() -> Config:
    return preset("tiny", batch=2)


@pytest.fixture
def models(tiny: Config) -> dict[str, torch.nn.Module]:
    return build_matched(tiny, list(BUILT_IN))


@pytest.fixture(scope="session")
def batch(tiny: Config) -> Batch:
    return make_batch(tiny, seed=0)
