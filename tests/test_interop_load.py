"""Loading checkpoints: bad ones end in one line; `diffusers-serial` is our serial in
diffusers' classes, trained as `freeze_unet2d_params` trains it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest
import torch

diffusers = pytest.importorskip("diffusers")
st = pytest.importorskip("safetensors.torch")

from mobius_core import options as cli_options  # noqa: E402
from mobius_core.errors import BadInput  # noqa: E402
from mobius_core.interop import configs, keys, options  # noqa: E402
from mobius_core.interop.load import from_diffusers  # noqa: E402
from mobius_core.interop.peer import DiffusersSerial  # noqa: E402
from mobius_core.measure.regions import declared_region  # noqa: E402
from mobius_core.models.config import Config, preset  # noqa: E402
from mobius_core.models.layers import TEMPORAL  # noqa: E402
from mobius_core.models.unet import UNet  # noqa: E402
from mobius_core.models.variants import build_matched, parameter_counts  # noqa: E402


@pytest.fixture(scope="module")
def tiny() -> Config:
    return preset("tiny", batch=1, frames=4)


@pytest.fixture(scope="module")
def unet_file(tiny: Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Our tiny 2D UNet's weights under diffusers' names, as one bare safetensors file."""
    path = tmp_path_factory.mktemp("ckpt") / "unet.safetensors"
    torch.manual_seed(5)
    st.save_file(keys.translate(UNet(tiny).state_dict(), keys.unet2d_table(tiny)).state, str(path))
    return path


def test_bare_file_takes_the_preset_layout(tiny: Config, unet_file: Path) -> None:
    model = from_diffusers("serial", unet_file, base=tiny)
    expected = st.load_file(str(unet_file))["mid_block.resnets.1.conv2.weight"]
    torch.testing.assert_close(model.mid.res.conv2.weight, expected, rtol=0, atol=0)
    needs = r"conv_in\.bias has shape \(32,\), the small layout needs \(64,\)"
    with pytest.raises(BadInput, match=needs):
        from_diffusers("serial", unet_file, base="small")


def test_unused_and_missing_files_are_named(tiny: Config, unet_file: Path, tmp_path: Path) -> None:
    state = st.load_file(str(unet_file))
    st.save_file(
        {**state, "add_embedding.linear_1.weight": torch.zeros(1)}, str(tmp_path / "x.safetensors")
    )
    with pytest.raises(BadInput, match=r"1 keys no rule uses.*add_embedding"):
        from_diffusers("mobius", tmp_path / "x.safetensors", base=tiny)
    with pytest.raises(BadInput, match=r"has no config\.json"):
        from_diffusers("serial", tmp_path, base=tiny)
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "config.json").write_text(json.dumps(configs.unet_config(tiny)))
    with pytest.raises(BadInput, match=r"diffusion_pytorch_model\.safetensors is missing"):
        from_diffusers("serial", tmp_path, base=tiny)  # a pipeline folder: its unet/ is found


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    options.add_checkpoint_arguments(parser)
    return parser.parse_args(list(argv))


def test_options(tiny: Config, unet_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert options.checkpoint_config(parse(), tiny) is tiny
    with pytest.raises(BadInput, match="--motion-adapter needs --unet"):
        options.checkpoint_config(parse("--motion-adapter", "a"), tiny)
    folder = unet_file.parent / "sd15"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(configs.unet_config(preset("sd15"))))
    with pytest.raises(BadInput, match=r"block_channels .* differs from preset tiny's"):
        options.checkpoint_config(parse("--unet", str(folder)), tiny)
    models = options.build_matched_from(parse("--unet", str(unet_file)), tiny, ["serial", "mobius"])
    torch.testing.assert_close(
        models["serial"].conv_in.weight, models["mobius"].trunk.conv_in.weight
    )
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)  # the extra is not installed
    with pytest.raises(BadInput, match=r"pip install -e '\.\[diffusers\]'"):
        options.checkpoint_config(parse("--unet", str(unet_file)), tiny)


def test_diffusers_serial_is_our_serial_frozen_as_diffusers_freezes(tiny: Config) -> None:
    models = build_matched(tiny, ["serial", "diffusers-serial"])
    peer = models["diffusers-serial"]
    assert parameter_counts(peer) == parameter_counts(models["serial"])
    reference = DiffusersSerial(tiny)
    reference.unet.freeze_unet2d_params()
    trainable = {n for n, p in reference.named_parameters() if p.requires_grad}
    assert trainable == {n for n, p in peer.named_parameters() if p.requires_grad}
    assert all(".motion_modules." in n for n in trainable)
    motion = [m for m in peer.modules() if type(m).__name__ == "AnimateDiffTransformer3D"]
    assert motion and {declared_region(m) for m in motion} == {TEMPORAL}
    latents = torch.randn(1, 4, 4, 8, 8)  # (b, 4, f, h, w)
    timesteps, context = torch.tensor([300]), torch.randn(1, 77, 768)
    with torch.no_grad():
        torch.testing.assert_close(
            peer(latents, timesteps, context),
            models["serial"](latents, timesteps, context),
            atol=1e-5,
            rtol=0,
        )


def test_diffusers_serial_flops_are_serial_flops_but_the_time_embedding() -> None:
    """Same FLOPs in forward and backward, except that our serial embeds the timestep of
    every frame, diffusers of every clip: (f - 1) * b * 2 * (c0 * 4c0 + 4c0 * 4c0) more."""
    from torch.utils.flop_counter import FlopCounterMode

    config = preset("tiny", batch=1, frames=4)  # c0 = 32
    with torch.device("meta"):
        models = build_matched(config, ["serial", "diffusers-serial"], device="meta")
        latents, context = torch.empty(1, 4, 4, 8, 8), torch.empty(1, 77, 768)
    counts = {}
    for name, model in models.items():
        with FlopCounterMode(display=False) as counter:
            model(
                latents, torch.zeros(1, dtype=torch.long, device="meta"), context
            ).sum().backward()
        counts[name] = counter.get_total_flops()
    assert counts["serial"] - counts["diffusers-serial"] == 3 * 1 * 2 * (32 * 128 + 128 * 128)


def test_diffusers_serial_with_a_broken_diffusers_fails_its_build_in_one_line(
    tiny: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registered without importing diffusers; a diffusers that fails to import (here, its
    motion model) ends the build with the variant's name, not a traceback."""
    monkeypatch.setitem(sys.modules, "diffusers.models.unets.unet_motion_model", None)
    with pytest.raises(BadInput, match=r"^diffusers-serial: diffusers fails to import \("):
        build_matched(tiny, ["diffusers-serial"])


def test_a_broken_diffusers_leaves_the_peer_out_of_the_default_variants_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no --variants, the other variants still run and the peer's absence is said once;
    named, the peer stays, to fail its build in one line."""
    monkeypatch.setitem(sys.modules, "diffusers.models.unets.unet_motion_model", None)
    chosen = cli_options.variants(None)
    assert "serial" in chosen and "mobius" in chosen and "diffusers-serial" not in chosen
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "# diffusers-serial left out: diffusers-serial: diffusers fails to import "
        "(import of diffusers.models.unets.unet_motion_model halted; None in sys.modules)"
    ]
    assert cli_options.variants("serial,diffusers-serial") == ["serial", "diffusers-serial"]
