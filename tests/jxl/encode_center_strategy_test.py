"""``encode --center_strategy``: the model's centre, or the one chosen for the group order."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from conftest import needs_jxl_tools
from PIL import Image

from attention_center.cli.main import main as cli
from attention_center.core.orientation import read_orientation
from attention_center.inference.prediction import predict_images
from attention_center.inference.predictors import load_predictor
from attention_center.jxl.batch import encode_directory
from attention_center.jxl.center_choice import choose_for_prediction
from attention_center.jxl.encoder import encoder_center
from attention_center.jxl.group_order import group_order

pytestmark = needs_jxl_tools


@pytest.fixture(scope="module")
def photos(kodak_paths, tmp_path_factory):
    """Two real photos (landscape and portrait) and a JPEG with EXIF orientation 6."""
    folder = tmp_path_factory.mktemp("photos")
    shutil.copy(next(p for p in kodak_paths if p.name == "kodim23.png"), folder / "a.png")
    shutil.copy(next(p for p in kodak_paths if p.name == "kodim04.png"), folder / "b.png")
    image = Image.open(kodak_paths[0]).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    image.save(folder / "c.jpg", quality=90, exif=exif)
    return folder


def test_chosen_centres_are_the_choice_and_the_files_decode(photos, tmp_path):
    predictor = load_predictor(None)  # the bundled .tflite: a centre, no weighting map
    model = encode_directory(photos, tmp_path / "model", predictor, progress=False, jobs=2)
    chosen = encode_directory(
        photos, tmp_path / "chosen", predictor, progress=False, jobs=2, center_strategy="chosen"
    )
    assert model.ok and chosen.ok and len(chosen.results) == 3
    predictions = {
        p.source: p for p in predict_images([r.source for r in chosen.results], predictor)
    }
    moved = 0
    for a, b in zip(model.results, chosen.results):
        prediction = predictions[str(b.source)]
        orientation = read_orientation(b.source)
        assert a.center == encoder_center(prediction.center, prediction.original_hw, orientation)
        assert (
            b.center == choose_for_prediction(prediction, orientation, model_center=a.center).center
        )
        assert b.command[b.command.index("--center_x") + 1] == str(b.center[0])
        moved += a.center != b.center
        decoded = tmp_path / f"{b.source.name}.png"
        subprocess.run(
            ["djxl", str(b.output), str(decoded), "--quiet"], check=True, capture_output=True
        )
        w, h = Image.open(decoded).size
        assert (h, w) == tuple(prediction.original_hw)  # upright, as displayed
    # The order the file will have differs from the model centre's on some image (the
    # choice matters), and the group of a chosen centre is a real group of the stored image.
    assert moved >= 1
    for b in chosen.results:
        with Image.open(b.source) as image:
            w, h = image.size  # stored size: cjxl's grid
        assert len(group_order((h, w), b.center)) == int(np.ceil(h / 256) * np.ceil(w / 256))


def test_cli_flag(photos, tmp_path, capsys):
    assert (
        cli(
            [
                "attention-center",
                "encode",
                "--image_dir",
                str(photos),
                "--dry_run",
                "--noprogress",
                "--center_strategy=chosen",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.count("--group_order 1 --center_x") == 3
    assert (
        cli(
            [
                "attention-center",
                "encode",
                "--image_dir",
                str(photos),
                "--dry_run",
                "--center_strategy=nonsense",
            ]
        )
        == 2
    )
    with pytest.raises(ValueError, match="center_strategy"):
        encode_directory(photos, tmp_path, load_predictor(None), center_strategy="nonsense")


def test_default_cjxl_flags(photos, capsys):
    from attention_center.jxl.defaults import DEFAULT_CJXL_FLAGS, with_default_flags

    assert with_default_flags([]) == list(DEFAULT_CJXL_FLAGS)
    assert with_default_flags(["--progressive_dc=0", "-d", "1"]) == [
        "--progressive_dc=0",
        "-d",
        "1",
    ]
    assert with_default_flags(["--progressive_dc", "2"]) == ["--progressive_dc", "2"]
    base = ["attention-center", "encode", "--image_dir", str(photos), "--dry_run", "--noprogress"]
    assert cli(base) == 0
    assert capsys.readouterr().out.count("--progressive_dc=1") == 3
    assert cli([*base, "--nocjxl_defaults"]) == 0
    assert "--progressive_dc" not in capsys.readouterr().out
    assert cli([*base, "--", "--progressive_dc=0"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("--progressive_dc=0") == 3 and "--progressive_dc=1" not in printed
