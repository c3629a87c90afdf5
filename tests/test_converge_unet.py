"""converge from the user's weights: `--unet` (and `--motion-adapter`) start every entry from
a diffusers checkpoint and skip stage 1; without the extra, one line says what to install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

diffusers = pytest.importorskip("diffusers")

from converge_fixtures import parse, tiny_checkpoint, toy_options  # noqa: E402, F401

from mobius_core.errors import BadInput  # noqa: E402
from mobius_core.interop.export import load_checkpoint  # noqa: E402
from mobius_core.report.converge_report import load  # noqa: E402
from mobius_core.run import cmd_converge  # noqa: E402


def test_every_entry_starts_from_the_checkpoint(
    toy: list[str], tmp_path: Path, checkpoint: tuple[Path, Path]
) -> None:
    unet, adapter = checkpoint
    out = tmp_path / "out"
    argv = [*toy, "--unet", str(unet), "--motion-adapter", str(adapter), "--out", str(out)]
    assert cmd_converge.run(parse(*argv)) == 0
    assert not (tmp_path / "cache").exists()  # stage 1 was skipped, though --pretrain-steps
    record = load(out)
    assert record.pretrain["skipped"] is True
    assert (record.case.unet, record.case.motion_adapter) == (str(unet), str(adapter))
    theirs = diffusers.UNet2DConditionModel.from_pretrained(unet).conv_in.weight
    for name in ("serial", "mobius"):  # frozen 2D weights: the checkpoint's, untouched
        _, _, model = load_checkpoint(out / "checkpoints" / f"{name}.safetensors")
        spatial = model.trunk if name == "mobius" else model
        torch.testing.assert_close(spatial.conv_in.weight, theirs, rtol=0, atol=0)
    start = {r.variant: r.run.eval_loss[0] for r in record.records}
    base = record.baseline.overall
    assert start["serial"] != pytest.approx(base, rel=1e-6)  # the adapter's modules are in
    assert start["mobius"] == pytest.approx(base, rel=1e-6)  # behind its zero-initialised fusion
    assert "Stage 1 skipped" in (out / "summary.md").read_text()


def test_without_the_extra_it_is_one_line(
    toy: list[str], checkpoint: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)  # the extra is not installed
    with pytest.raises(BadInput, match=r"pip install -e '\.\[diffusers\]'") as error:
        cmd_converge.run(parse(*toy, "--unet", str(checkpoint[0])))
    assert "\n" not in str(error.value)
    with pytest.raises(BadInput, match="--motion-adapter needs --unet"):
        cmd_converge.run(parse(*toy, "--motion-adapter", str(checkpoint[1])))
