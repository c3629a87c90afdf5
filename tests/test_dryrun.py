"""The dry run: meta-device predictions, ratios to serial, and its command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mobius_core.cli import main
from mobius_core.models.config import Config
from mobius_core.models.variants import VARIANTS, build_unet, parameter_counts
from mobius_core.run.dryrun import dry_run


def test_predictions_by_hand(tiny: Config) -> None:
    result = dry_run(tiny, list(VARIANTS), torch.bfloat16)
    rows = {row["variant"]: row for row in result["variants"]}
    serial = rows["serial"]
    counts = serial["params"]
    # frozen weights in bf16 (2 B), trainable in fp32 (4 B); AdamW holds two fp32 moments
    assert serial["bytes"]["parameters"] == 2 * counts["frozen"] + 4 * counts["trainable"]
    assert serial["bytes"]["gradients"] == 4 * counts["trainable"]
    assert serial["bytes"]["optimizer"] == 8 * counts["trainable"]
    assert serial["ratio_to_serial"]["flops"] == 1.0
    mobius = rows["mobius"]
    assert mobius["ratio_to_serial"]["flops"] < 1 and mobius["ratio_to_serial"]["saved"] < 1
    assert (
        rows["serial-ckpt"]["ratio_to_serial"]["saved"]
        < 1
        < rows["serial-ckpt"]["ratio_to_serial"]["flops"]
    )


def test_bf16_saves_at_least_half_of_fp32(tiny: Config) -> None:
    fp32 = dry_run(tiny, ["mobius"], torch.float32)["variants"][0]
    bf16 = dry_run(tiny, ["mobius"], torch.bfloat16)["variants"][0]
    # activations halve; norm statistics, attention log-sum-exps and the loss stay fp32
    assert fp32["bytes"]["saved"] / 2 < bf16["bytes"]["saved"] < fp32["bytes"]["saved"]
    assert bf16["flops"] == fp32["flops"]
    assert bf16["params"] == parameter_counts(build_unet(tiny, "mobius", device="meta"))


def test_cli_prints_the_table_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dry.json"
    argv = ["dry-run", "--preset", "tiny", "--frames", "2", "--batch", "1", "--json", str(out)]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "| serial |" in table and "| mobius |" in table and "x serial" in table
    written = json.loads(out.read_text())
    assert written["config"]["frames"] == 2
    assert [r["variant"] for r in written["variants"]] == list(VARIANTS)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["dry-run", "--preset", "sd15", "--frames", "40"], "frames: 40 is above"),
        (["dry-run", "--resolution", "100"], "resolution: 100 is not divisible by the VAE"),
        (["dry-run", "--variants", "serial,parallel"], "variants: unknown ['parallel']"),
        (["dry-run", "--dtype", "int8"], "dtype: unknown dtype 'int8'"),
    ],
)
def test_cli_bad_options(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mobius-bench: error: {message}") and err.count("\n") == 1


def test_cli_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dry.json"
    out.write_text("earlier results")
    assert main(["dry-run", "--preset", "tiny", "--json", str(out)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert out.read_text() == "earlier results"
