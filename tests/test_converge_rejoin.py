"""converge over k: mobius-double fine-tuned at each `--rejoin` depth as its own entry, the
record carrying k, and each entry's trained model of seed 0 saved where export-motion finds it.

Ground truth by hand: k = 0 is mobius exactly (the same weights from the same seed, the
same graph), so its curves equal mobius's to the last bit; k = 2 adds two return bridges,
which the first step trains, so its curve leaves mobius's after step 0."""

from __future__ import annotations

from pathlib import Path

import pytest
from converge_fixtures import parse, toy_options  # noqa: F401

from mobius_core.errors import BadInput
from mobius_core.report.converge_report import load
from mobius_core.run import cmd_converge


def test_each_rejoin_depth_is_an_entry_with_its_k(toy: list[str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cmd_converge.run(parse(*toy, "--variants", "mobius", "--rejoin", "0,2", "--out",
                                  str(out))) == 0  # fmt: skip
    record = load(out)
    assert list(record.variants) == ["serial", "mobius", "mobius-double-k0", "mobius-double-k2"]
    assert {n: v.rejoin for n, v in record.variants.items()} == {
        "serial": None, "mobius": 0, "mobius-double-k0": 0, "mobius-double-k2": 2,
    }  # fmt: skip
    assert record.settings["rejoin"] == [0, 2]
    assert {v.variant for v in record.verdicts} == {"mobius", "mobius-double-k0",
                                                    "mobius-double-k2"}  # fmt: skip
    runs = {(r.variant, r.seed): r for r in record.records}
    for seed in (0, 1):
        mobius, k0, k2 = (runs[(n, seed)] for n in ("mobius", "mobius-double-k0",
                                                      "mobius-double-k2"))  # fmt: skip
        assert k0.run.eval_loss == mobius.run.eval_loss  # k = 0 is mobius
        assert k0.control.eval_loss == mobius.control.eval_loss
        assert k2.run.eval_loss[0] == mobius.run.eval_loss[0]  # zero-initialised returns
        assert k2.run.eval_loss[1] != mobius.run.eval_loss[1]  # trained returns change it
    assert "k = [0, 2]" in (out / "summary.md").read_text()


def test_each_entrys_model_of_seed_0_is_saved_and_exported(toy: list[str], tmp_path: Path) -> None:
    from mobius_core.interop.export import find_checkpoint, load_checkpoint

    out = tmp_path / "out"
    assert cmd_converge.run(parse(*toy, "--variants", "serial", "--rejoin", "1", "--out",
                                  str(out))) == 0  # fmt: skip
    saved = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert saved == ["mobius-double-k1.safetensors", "serial.safetensors"]
    variant, config, _ = load_checkpoint(find_checkpoint(out, "mobius-double-k1"))
    assert (variant, config.rejoin_positions, config.frames) == ("mobius-double", 1, 2)
    assert find_checkpoint(out, "serial").name == "serial.safetensors"
    with pytest.raises(BadInput, match="need one checkpoint, found"):
        find_checkpoint(out, None)  # two in the folder: say which
    pytest.importorskip("diffusers")
    from mobius_core.cli import main

    adapter = tmp_path / "adapter"
    assert main(["export-motion", str(out), "--variant", "serial", "--out", str(adapter)]) == 0
    assert (adapter / "config.json").is_file()


def test_a_depth_beyond_the_up_positions_fails_before_the_work(
    toy: list[str], tmp_path: Path
) -> None:
    with pytest.raises(BadInput, match=r"--rejoin: 5 is outside 0\.\.4 \(the up positions of"):
        cmd_converge.run(parse(*toy, "--rejoin", "0,5"))
    assert not (tmp_path / "cache").exists()  # nothing was trained
