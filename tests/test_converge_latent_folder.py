"""`--data DIR`: a folder of latent clips, each `(4, f, h, w)` of the run's shape; a clip of
any other channels, frames, height or width is a one-line error naming the file and the
shape expected (exit status 2 from the CLI)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from mobius_core.cli import main
from mobius_core.errors import BadInput
from mobius_core.models.config import preset
from mobius_core.training.latent_folder import LatentFolder, expected_shape

CONFIG = preset("tiny", frames=2, resolution=64)  # latents (4, 2, 8, 8)


def write(folder: Path, shapes: list[tuple[int, ...]]) -> list[Path]:
    """One zero clip per shape, named clip0, clip1, ..."""
    folder.mkdir(exist_ok=True)
    paths = [folder / f"clip{i}.safetensors" for i in range(len(shapes))]
    for path, shape in zip(paths, shapes, strict=True):
        save_file({"latents": torch.zeros(shape)}, path)
    return paths


def test_clips_of_the_runs_shape_are_read(tmp_path: Path) -> None:
    assert expected_shape(CONFIG) == (4, 2, 8, 8)  # 64 px / 8
    write(tmp_path / "data", [(4, 2, 8, 8)] * 9)
    source = LatentFolder(tmp_path / "data", CONFIG)
    assert source.train.shape == (8, 4, 2, 8, 8) and source.held.shape == (1, 4, 2, 8, 8)


@pytest.mark.parametrize(
    "wrong",
    [(3, 2, 8, 8), (4, 3, 8, 8), (4, 2, 16, 8), (4, 2, 8, 16), (4, 2, 8)],
    ids=["channels", "frames", "height", "width", "rank"],
)
def test_a_clip_of_another_shape_is_one_line_naming_it(
    tmp_path: Path, wrong: tuple[int, ...]
) -> None:
    _, bad = write(tmp_path / "data", [(4, 2, 8, 8), wrong])
    with pytest.raises(BadInput) as error:
        LatentFolder(tmp_path / "data", CONFIG)
    message = str(error.value)
    assert message.startswith(f"{bad}: expected a (4, 2, 8, 8) tensor")
    assert f"got {wrong}" in message and "\n" not in message


def test_cli_exits_2_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, bad = write(tmp_path / "data", [(4, 2, 8, 8), (4, 2, 8, 16)])
    argv = ["converge", "--frames", "2", "--resolution", "64", "--data", str(tmp_path / "data"),
            "--device", "cpu", "--cache", str(tmp_path / "cache")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{bad}: expected a (4, 2, 8, 8) tensor" in err
    assert "--preset tiny --frames 2 --resolution 64" in err
    assert not (tmp_path / "cache").exists()  # nothing was trained


def test_one_training_clip_is_one_line_as_the_control_would_be_the_run(tmp_path: Path) -> None:
    """2 clips: 1 held out, 1 to train on, and the control would draw every frame from it;
    3 clips leave 2, and the control's frames come from either."""
    write(tmp_path / "data", [(4, 2, 8, 8)] * 2)
    with pytest.raises(BadInput, match=r"1 training clip \(1 of 2 held out\).* at least 3 clips$"):
        LatentFolder(tmp_path / "data", CONFIG)
    write(tmp_path / "data", [(4, 2, 8, 8)] * 3)
    assert len(LatentFolder(tmp_path / "data", CONFIG).train) == 2


def test_new_clips_under_the_same_names_get_a_new_cache_name(tmp_path: Path) -> None:
    """Same names, same sizes, other values: stage 1's cache key (the name) must differ."""
    write(tmp_path / "a", [(4, 2, 8, 8)] * 3)
    for i in range(3):
        folder = tmp_path / "b"
        folder.mkdir(exist_ok=True)
        save_file({"latents": torch.full((4, 2, 8, 8), float(i))}, folder / f"clip{i}.safetensors")
    a, b = LatentFolder(tmp_path / "a", CONFIG), LatentFolder(tmp_path / "b", CONFIG)
    assert a.name != b.name
    assert a.name == LatentFolder(tmp_path / "a", CONFIG).name  # and stable
