"""`--unet`/`--motion-adapter` on step, profile and dry-run; `step --save` gives the
checkpoints that export-motion turns into a MotionAdapter diffusers loads and runs."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from diffusers_checkpoint import WEIGHTS, save_tiny_checkpoint

diffusers = pytest.importorskip("diffusers")
st = pytest.importorskip("safetensors.torch")

from mobius_core import cli  # noqa: E402
from mobius_core.interop import configs  # noqa: E402
from mobius_core.interop.export import load_checkpoint  # noqa: E402
from mobius_core.models.config import preset  # noqa: E402
from mobius_core.models.variants import VARIANTS  # noqa: E402
from mobius_core.run import profile_report  # noqa: E402
from mobius_core.run.dryrun import dry_run  # noqa: E402
from mobius_core.training.step import make_batch  # noqa: E402

TINY = ["--preset", "tiny", "--frames", "2", "--resolution", "64"]
MOTION = "up_blocks.1.motion_modules.1.proj_out.weight"  # the last up position's


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("checkpoint"))


def test_step_save_then_export_motion_runs_in_unet_motion_model(
    checkpoint: tuple[Path, Path], tmp_path: Path
) -> None:
    unet, adapter = checkpoint
    saved, exported = tmp_path / "trained", tmp_path / "exported"
    start = ["--unet", str(unet), "--motion-adapter", str(adapter)]
    assert cli.main(["step", *TINY, "--device", "cpu", *start, "--save", str(saved)]) == 0
    assert sorted(p.name for p in saved.iterdir()) == sorted(f"{v}.safetensors" for v in VARIANTS)
    assert (
        cli.main(["export-motion", str(saved), "--variant", "serial", "--out", str(exported)]) == 0
    )
    trained = diffusers.MotionAdapter.from_pretrained(exported)
    before = st.load_file(str(adapter / WEIGHTS))[MOTION]
    after = trained.up_blocks[1].motion_modules[1].proj_out.weight
    assert not torch.allclose(after, before, rtol=0, atol=1e-6)  # a real optimizer step moved it
    theirs = diffusers.UNetMotionModel.from_unet2d(
        diffusers.UNet2DConditionModel.from_pretrained(unet), trained
    )
    variant, config, ours = load_checkpoint(saved / "serial.safetensors")
    assert variant == "serial"
    batch = make_batch(config, seed=3)
    per_frame = batch.context.repeat_interleave(config.frames, 0)  # ((b f), 77, c)
    with torch.no_grad():
        expected = theirs(batch.latents, batch.timesteps, per_frame).sample
        got = ours(batch.latents, batch.timesteps, batch.context)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_step_refuses_before_any_work(
    checkpoint: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unet, _ = checkpoint
    taken = tmp_path / "taken"
    taken.mkdir()
    assert cli.main(["step", *TINY, "--unet", str(unet), "--save", str(taken)]) == 2
    refused = f"{taken}: a folder of that name exists already; choose a new path"
    assert capsys.readouterr().err == f"mobius-bench: error: {refused}\n"
    assert cli.main(["step", "--preset", "small", "--unet", str(unet)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mobius-bench: error: --unet: the checkpoint's block_channels (32, 64)")
    assert err.count("\n") == 1


def test_profile_profiles_the_checkpoint_s_weights(
    checkpoint: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unet, adapter = checkpoint
    profiled = {}
    real = profile_report.profile_variant

    def profile_variant(variant: str, model: torch.nn.Module, *args: object) -> object:
        profiled[variant] = {k: v.clone() for k, v in model.state_dict().items()}
        return real(variant, model, *args)

    monkeypatch.setattr(profile_report, "profile_variant", profile_variant)
    start = ["--unet", str(unet), "--motion-adapter", str(adapter)]
    argv = ["profile", *TINY, "--variants", "serial", "--device", "cpu", *start]
    assert cli.main([*argv, "--steps", "1", "--warmup", "0", "--out", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "profile.md").is_file()
    state = profiled["serial"]
    theirs = st.load_file(str(unet / WEIGHTS))["conv_in.weight"]
    torch.testing.assert_close(state["conv_in.weight"], theirs, rtol=0, atol=0)
    motion = st.load_file(str(adapter / WEIGHTS))[MOTION]
    own = "up_levels.1.layers.1.temporal.proj_out.weight"
    torch.testing.assert_close(state[own], motion, rtol=0, atol=0)


def _config_only(folder: Path, config: dict) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_dry_run_predicts_for_a_config_json_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only config.json, no weights and no safetensors: the prediction is for the
    checkpoint's layout (here tiny's with twice the channels) at the options' shape."""
    wide = {**configs.unet_config(preset("tiny")), "block_out_channels": [64, 128]}
    folder = _config_only(tmp_path / "wide", wide)
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)  # no extra is needed
    base = ["dry-run", *TINY, "--variants", "serial,mobius", "--dtype", "fp32"]
    argv = [*base, "--unet", str(folder), "--json", str(tmp_path / "wide.json")]
    assert cli.main(argv) == 0
    assert f"# layout of {folder}: custom ((64, 128) channels)" in capsys.readouterr().out
    tiny, pair, fp32 = preset("tiny", frames=2, resolution=64), ["serial", "mobius"], torch.float32
    wide_run = json.loads((tmp_path / "wide.json").read_text())
    expected = dry_run(replace(tiny, block_channels=(64, 128), name="custom"), pair, fp32)
    assert wide_run["config"] == expected.to_dict()["config"]
    assert wide_run["config"]["block_channels"] == [64, 128] and wide_run["config"]["frames"] == 2
    for ours, theirs in zip(wide_run["records"], expected.records, strict=True):
        assert ours["flops"]["total"] == theirs.flops.total
        assert ours["saved"]["bytes"] == theirs.saved.bytes
    assert theirs.flops.total != dry_run(tiny, pair, fp32).records[-1].flops.total
    sd2 = _config_only(tmp_path / "sd2", {**wide, "use_linear_projection": True})
    assert cli.main([*base, "--unet", str(sd2)]) == 2
    assert "use_linear_projection is True (SD 2.x-style linear projections)" in (
        capsys.readouterr().err
    )
