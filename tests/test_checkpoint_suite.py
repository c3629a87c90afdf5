"""The suite on the user's checkpoint: `--unet`/`--motion-adapter` checked before any work,
and every variant, diffusers' serial included, measured with the checkpoint's weights."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from diffusers_checkpoint import WEIGHTS, save_tiny_checkpoint

pytest.importorskip("diffusers")
st = pytest.importorskip("safetensors.torch")

from mobius_core import cli  # noqa: E402
from mobius_core.errors import BadInput  # noqa: E402
from mobius_core.interop import configs  # noqa: E402
from mobius_core.models.config import preset  # noqa: E402
from mobius_core.report.runs import load  # noqa: E402
from mobius_core.run.bench import run_bench  # noqa: E402
from mobius_core.run.case import build_variant  # noqa: E402
from mobius_core.run.launcher import run_job  # noqa: E402
from mobius_core.run.matrix import parse  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHAPE = {"frames": "2", "resolution": "64", "rounds": "2", "warmup": "0"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("checkpoint"))


# One 2D weight and one motion weight (the last up position's out-projection) of each
# variant, under its own name, and under the checkpoint's.
SPATIAL = "mid_block.resnets.1.conv2.weight"
MOTION = "up_blocks.1.motion_modules.1.proj_out.weight"
NAMES = {
    "serial": ("mid.res.conv2.weight", "up_levels.1.layers.1.temporal.proj_out.weight"),
    "mobius": ("trunk.mid.res.conv2.weight", "branch.temporal.6.proj_out.weight"),
    "diffusers-serial": (f"unet.{SPATIAL}", f"unet.{MOTION}"),
}


def test_the_suite_measures_each_serial_and_mobius_on_the_checkpoint(
    checkpoint: tuple[Path, Path], tmp_path: Path
) -> None:
    unet, adapter = checkpoint
    values = {"unet": str(unet), "motion-adapter": str(adapter), "variants": ",".join(NAMES)}
    options = parse({**values, **SHAPE})
    assert options.preset == "tiny"  # the preset of the checkpoint's layout
    out = tmp_path / "run.json"
    run_bench(options, out, lambda job: run_job(job), lambda _: None)
    records = load(out).records
    assert {r.variant.name: r.status for r in records} == dict.fromkeys(NAMES, "ok")
    case = records[0].case
    assert (case.unet, case.motion_adapter) == (str(unet.resolve()), str(adapter.resolve()))
    assert all(r.case == case for r in records)
    theirs = {
        SPATIAL: st.load_file(str(unet / WEIGHTS))[SPATIAL],
        MOTION: st.load_file(str(adapter / WEIGHTS))[MOTION],
    }
    assert theirs[MOTION].abs().min() > 0  # not the zero a fresh motion module starts at
    for variant, (spatial, motion) in NAMES.items():
        state = build_variant(case, variant).state_dict()
        torch.testing.assert_close(state[spatial], theirs[SPATIAL], rtol=0, atol=0)
        torch.testing.assert_close(state[motion], theirs[MOTION], rtol=0, atol=0)


def _folder(tmp_path: Path, name: str, config: dict, weights: bool = True) -> Path:
    """A UNet folder with `config` as its config.json (and a stand-in weights file)."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    if weights:
        (folder / WEIGHTS).write_bytes(b"")  # present; only a build would read it
    return folder


def test_a_checkpoint_is_checked_before_any_work(
    checkpoint: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unet, adapter = checkpoint
    small = _folder(tmp_path, "small", configs.unet_config(preset("small")))
    with pytest.raises(
        BadInput, match=r"^--unet: the checkpoint's block_channels \(64, 128, 128\)"
    ):
        parse({"preset": "tiny", "unet": str(small)})
    assert parse({"unet": str(small)}).preset == "small"  # no --preset: the checkpoint's
    odd = _folder(tmp_path, "odd", {**configs.unet_config(preset("tiny")), "norm_num_groups": 4})
    with pytest.raises(BadInput, match=r"has the layout of no preset \(tiny, small, sd15\)"):
        parse({"unet": str(odd)})
    bare = tmp_path / "unet.safetensors"
    bare.write_bytes(b"")
    with pytest.raises(BadInput, match=r"has no config\.json; name its layout with --preset"):
        parse({"unet": str(bare)})
    no_weights = _folder(tmp_path, "empty", configs.unet_config(preset("tiny")), weights=False)
    with pytest.raises(BadInput, match=rf"^--unet: .*empty/{WEIGHTS} is missing$"):
        parse({"unet": str(no_weights)})
    with pytest.raises(
        BadInput, match=r"^motion adapter config: block_out_channels \(64, 128, 128\)"
    ):
        parse({"unet": str(unet), "motion-adapter": str(small), "preset": "tiny"})
    with pytest.raises(BadInput, match="--motion-adapter needs --unet"):
        parse({"motion-adapter": str(adapter)})
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)  # the extra is not installed
    with pytest.raises(BadInput, match=r"^safetensors\.torch is not installed; .*\[diffusers\]"):
        parse({"unet": str(unet)})


def test_a_bad_checkpoint_is_one_line_in_both_faces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = _folder(tmp_path, "small", configs.unet_config(preset("small")))
    wrong = ["--preset", "tiny", "--unet", str(small)]
    line = (
        "--unet: the checkpoint's block_channels (64, 128, 128) differs from preset tiny's"
        " (32, 64); choose the preset of its layout"
    )
    assert cli.main(["bench", "--out", str(tmp_path / "runs"), "--", *wrong]) == 2
    assert capsys.readouterr().err == f"mobius-bench: error: {line}\n"
    assert not (tmp_path / "runs").exists()  # refused before any folder was made
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "bench/", "--collect-only", "-q", *wrong],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 4
    assert done.stderr.strip() == f"ERROR: {line}"
