"""Every registered backbone exports to a float32 TFLite model with builtin ops only,
and its TFLite centre equals the Keras centre within 1 px on real photos.

The models have random backbone weights (nothing is downloaded), so their
heads are given structure first (:func:`export_models.give_structure`):
the centres then differ between the photos by tens of pixels, and the test
checks that they are *the same* in TFLite, not merely near the middle.

Input 96x128: every backbone and the head are fully convolutional and the
gravity centre is size-agnostic, so the graph has the same layers and ops as
at 480x640, at a fraction of the conversion time. The two big non-mobile backbones (ResNet50,
EfficientNet-B0; 15-25 s each on a loaded 2-core box) are marked slow; CI runs
them (``tools/test.sh`` runs the slow tests too).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "tensorflow":
    pytest.skip("TFLite export needs KERAS_BACKEND=tensorflow", allow_module_level=True)

from export_models import give_structure  # noqa: E402

from attention_center import build_model  # noqa: E402
from attention_center.backbones import list_backbones  # noqa: E402
from attention_center.inference.tflite import google_centers, make_interpreter  # noqa: E402
from export import converter, flatbuffer  # noqa: E402
from export.images import load_frames  # noqa: E402

INPUT_HW = (96, 128)
#: Conversion takes 15-25 s for these on a loaded 2-core CPU.
HEAVY = {"resnet50", "efficientnet_b0"}


@pytest.fixture(scope="module")
def frames(kodak_paths):
    """Four real photos (landscape and portrait among the Kodak set) at 96x128."""
    picks = [kodak_paths[i] for i in (0, 3, 8, 17)]
    _, frames = load_frames(picks, INPUT_HW)
    return frames


@pytest.mark.parametrize(
    "backbone",
    [
        pytest.param(name, marks=pytest.mark.slow) if name in HEAVY else name
        for name in list_backbones()
    ],
)
def test_float32_tflite_is_builtin_only_and_matches_keras(backbone, frames, capsys):
    keras.utils.set_random_seed(0)
    model = build_model(backbone, input_shape=(*INPUT_HW, 3), backbone_weights=None)
    give_structure(model, frames)
    expected = np.asarray(model.predict(frames, verbose=0)["center"], np.float64)
    spread = np.linalg.norm(expected[:, None] - expected[None], axis=-1).max()
    assert spread > 10.0, f"{backbone}: centres too alike to test anything ({spread:.1f} px)"

    content = converter.convert_model(model, "float32", input_hw=INPUT_HW)

    ops = flatbuffer.operator_counts(content)
    with capsys.disabled():
        print(f"\n{backbone}: {len(content) / 1e6:.1f} MB, ops {sorted(ops)}")
    assert flatbuffer.non_builtin_ops(content) == []
    assert "CONV_2D" in ops and "FULLY_CONNECTED" in ops  # the backbone and the gravity centre

    got = google_centers(make_interpreter(content), frames)
    difference = np.linalg.norm(got - expected, axis=-1)
    with capsys.disabled():
        print(
            f"{backbone}: TFLite vs Keras max {difference.max():.3f} px "
            f"(centres spread over {spread:.0f} px)"
        )
    assert difference.max() <= 1.0, f"{backbone}: TFLite vs Keras {difference.round(2)} px"
