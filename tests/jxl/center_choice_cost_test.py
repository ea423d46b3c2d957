"""The centre choice's cost grows linearly with the pixels and it stops promptly (issue 23).

Before issue 23 ``--center_strategy chosen`` scored every group order (``4 N``, each a sort
of the ``N`` groups) over a point grid of the whole image: 0.7 s at 4 MP, 13.7 s at 16 MP,
minutes and gigabytes at 100 MP, deaf to SIGTERM inside numpy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
from PIL import Image

from attention_center.inference.prediction import Prediction
from attention_center.jxl.center_choice import choose_for_prediction, gaussian_points
from attention_center.jxl.group_order import group_order

REPO = Path(__file__).resolve().parents[2]


def _choice_seconds(hw, repeats: int = 3) -> float:
    """Best of ``repeats`` wall times of the default choice for an image ``hw``, off-centre."""
    prediction = Prediction(
        source="x", center=np.array([hw[1] * 0.37, hw[0] * 0.62]), original_hw=hw
    )
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        choice = choose_for_prediction(prediction)
        best = min(best, time.perf_counter() - started)
    assert choice is not None and len(group_order(hw, choice.center)) > 1
    return best


def test_the_choice_costs_time_linear_in_pixels():
    _choice_seconds((512, 768), repeats=1)  # warm-up (imports, caches of small sizes)
    four = _choice_seconds((1728, 2304))  # 4.0 MP, 63 groups
    sixteen = _choice_seconds((3456, 4608))  # 15.9 MP, 252 groups
    # 4x the pixels: linear is <= 4x (constant parts make it less); the old code was 20x.
    assert sixteen / four < 5.0, (four, sixteen)


def test_the_attention_points_do_not_grow_with_the_image():
    for hw in ((512, 768), (3456, 4608), (10000, 10000)):
        points, weights = gaussian_points((hw[1] * 0.4, hw[0] * 0.3), hw)
        assert len(points) <= 128 * 128 and abs(weights.sum() - 1) < 1e-9
        assert np.all((points >= 0) & (points <= [hw[1] - 1, hw[0] - 1]))


_LOOP = textwrap.dedent(
    """
    import sys
    import numpy as np
    from absl import flags
    from attention_center.core.command_line import run_with_flags
    from attention_center.inference.prediction import Prediction
    from attention_center.jxl.center_choice import choose_for_prediction

    def main(argv):
        hw = (10000, 10000)  # 100 MP, 1600 groups
        prediction = Prediction(source="x", center=np.array([4000.0, 3000.0]), original_hw=hw)
        choose_for_prediction(prediction)
        print("choosing", flush=True)
        while True:
            choose_for_prediction(prediction)

    run_with_flags(flags.FlagValues(), main, "loop", ["loop"])
    """
)


def _stop_after(process: subprocess.Popen, line: str, wait: float) -> float:
    """Waits for ``line`` on stdout, then ``wait`` s, sends SIGTERM; seconds until it exits."""
    for text in process.stdout:
        if line in text:
            break
    else:
        raise AssertionError(f"never printed {line!r}: {process.stderr.read()[-2000:]}")
    time.sleep(wait)
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    return time.monotonic() - sent


def test_sigterm_during_a_large_images_choice_exits_130_at_once():
    """The real command-line handler (run_with_flags) around choices at 100 MP, back to back."""
    process = subprocess.Popen(
        [sys.executable, "-c", _LOOP],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seconds = _stop_after(process, "choosing", 0.7)
        assert process.returncode == 130, process.stderr.read()[-2000:]
        assert seconds < 2.0, seconds
    finally:
        process.kill()


def test_sigterm_while_encode_works_on_a_large_image_exits_130_within_2_s(tmp_path):
    """``encode --dry_run``: a small image, then a 36 MP one (decoded, predicted, its centre
    chosen); SIGTERM once the small one's command is printed."""
    images = tmp_path / "in"
    images.mkdir()
    pixels = np.zeros((6000, 6000, 3), np.uint8)
    pixels[::40] = 200
    pixels[:, ::70, 1] = 120
    Image.fromarray(pixels[:300, :400]).save(images / "a_small.png")
    Image.fromarray(pixels).save(images / "b_large.png", compress_level=1)
    del pixels
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "attention_center",
            "encode",
            "--image_dir",
            str(images),
            "--dry_run",
            "--noprogress",
            "--batch_size",
            "1",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        seconds = _stop_after(process, "a_small.png", 0.3)
        stdout, stderr = process.stdout.read(), process.stderr.read()
        assert process.returncode == 130, stderr[-2000:]
        assert "b_large.png.jxl" not in stdout  # stopped before its command was printed
        assert "Traceback" not in stderr
        assert seconds < 2.0, seconds
    finally:
        process.kill()
