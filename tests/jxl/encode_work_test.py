"""The work ``encode`` does per image (perf audit F1, F2, F6, F9), with the bundled model and
the real cjxl: how often and how big it decodes, how many orientation reads, how many cjxl
threads, and how far the main thread runs ahead of cjxl."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time

import numpy as np
import pytest
from conftest import live_cjxl, needs_jxl_tools
from PIL import Image, ImageFile
from robustness.corpus import synthetic_photo

import attention_center.jxl.batch as batch
from attention_center.inference.prediction import predict_images
from attention_center.inference.predictors import load_predictor
from attention_center.jxl.batch import EncodeInterrupted, encode_directory
from attention_center.jxl.encoder import encoder_center

pytestmark = needs_jxl_tools


@pytest.fixture(scope="module")
def predictor():
    """The bundled .tflite model (what ``attention-center encode`` uses by default)."""
    return load_predictor(None)


@pytest.fixture()
def decodes(monkeypatch) -> list[tuple[str, tuple[int, int]]]:
    """``(file name, decoded size)`` of every pixel decode Pillow does from a file, seen by a
    spy that wraps (and calls) :meth:`PIL.ImageFile.ImageFile.load`; a ``load`` of an image
    already decoded (no tiles left) is not a decode."""
    seen: list[tuple[str, tuple[int, int]]] = []
    load = ImageFile.ImageFile.load

    def spy(self, *args, **kwargs):
        pending = bool(getattr(self, "tile", None))
        result = load(self, *args, **kwargs)
        if pending and getattr(self, "filename", None):
            seen.append((os.path.basename(self.filename), tuple(self.size)))
        return result

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return seen


def test_a_large_jpeg_gets_predicts_centre_from_a_reduced_decode(
    kodak_paths, predictor, decodes, tmp_path
):
    """Guards F1: encode decodes a large JPEG at the reduced DCT scale the model needs, as
    ``predict`` does (it decoded it at full size, 6 MP here, 24 MP for a camera photo, kept
    ``batch_size`` of them at once and threw the pixels away), so its centre is ``predict``'s
    (it was some pixels off) and the centre cjxl gets is that one, mapped through the EXIF
    rotation of the file."""
    folder = tmp_path / "in"
    folder.mkdir()
    image = Image.open(next(p for p in kodak_paths if p.name == "kodim23.png")).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, displayed portrait
    image.resize((3000, 2000), Image.BICUBIC).save(folder / "big.jpg", quality=90, exif=exif)

    summary = encode_directory(folder, tmp_path / "out", predictor, dry_run=True, progress=False)
    [result] = summary.results
    [expected] = predict_images([folder / "big.jpg"], predictor)
    assert result.status == "dry_run"
    assert result.display_center == tuple(float(v) for v in expected.center)
    assert result.center == encoder_center(expected.center, (3000, 2000), 6)
    sizes = [size for name, size in decodes if name == "big.jpg"]
    assert sizes and all(w * h <= 3000 * 2000 // 4 for w, h in sizes), sizes


def test_a_png_is_decoded_at_most_twice_and_its_orientation_read_once(
    kodak_paths, predictor, decodes, monkeypatch, tmp_path
):
    """Guards F2's call sites: encode read a PNG's EXIF orientation twice per image (Pillow
    decodes the whole PNG to find it), so each PNG was decoded three times; the orientation
    ``_probe`` read is now reused."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("kodim04.png", "kodim23.png"):
        shutil.copy(next(p for p in kodak_paths if p.name == name), folder / name)
    reads: list[str] = []
    read_orientation = batch.read_orientation

    def counted(path):
        reads.append(os.path.basename(path))
        return read_orientation(path)

    monkeypatch.setattr(batch, "read_orientation", counted)
    summary = encode_directory(folder, tmp_path / "out", predictor, dry_run=True, progress=False)
    assert [r.status for r in summary.results] == ["dry_run", "dry_run"]
    assert sorted(reads) == ["kodim04.png", "kodim23.png"]
    for name in ("kodim04.png", "kodim23.png"):
        assert 1 <= sum(seen == name for seen, _ in decodes) <= 2, decodes


def test_one_image_gets_every_core_as_with_jobs_1(kodak_paths, predictor, monkeypatch, tmp_path):
    """Guards F6: with more jobs than images, cjxl got ``--num_threads cpus // jobs`` (1 of 2
    cores for a single image, the other idle); jobs are now never more than the images, so
    one image runs as with ``jobs=1`` (cjxl's default threads: every core), to the same
    bytes, and two images with two jobs still get one thread each."""
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(next(p for p in kodak_paths if p.name == "kodim23.png"), folder / "a.png")
    one = encode_directory(folder, tmp_path / "jobs2", predictor, jobs=2, progress=False)
    alone = encode_directory(folder, tmp_path / "jobs1", predictor, jobs=1, progress=False)
    assert one.ok and alone.ok
    [a], [b] = one.results, alone.results
    assert "--num_threads" not in a.command
    assert a.command[3:] == b.command[3:]  # cjxl, input, output, then the same flags
    assert a.output.read_bytes() == b.output.read_bytes()

    shutil.copy(next(p for p in kodak_paths if p.name == "kodim04.png"), folder / "b.png")
    two = encode_directory(
        folder, tmp_path / "two", predictor, jobs=2, dry_run=True, progress=False
    )
    for result in two.results:
        at = result.command.index("--num_threads")
        assert result.command[at + 1] == "1"


def test_the_queue_ahead_of_cjxl_is_bounded_and_ctrl_c_stops_a_run_waiting_on_it(
    predictor, tmp_path
):
    """Guards F9: the main thread submitted every image to cjxl at once and wrote each WebP's
    temporary PNG ahead of it, so temporaries piled up while cjxl lagged. With ``jobs=1`` at
    most 2 images are now ahead of cjxl: while the slow second one encodes and the third
    waits, no WebP's PNG is written yet. A Ctrl-C while the main thread waits for room still
    stops cjxl, removes the temporaries and raises :class:`EncodeInterrupted` with the
    summary."""
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(synthetic_photo(seed=2)).save(folder / "0fast.png")
    rng = np.random.default_rng(0)
    for name in ("a1.png", "a2.png"):  # seconds each for cjxl at -d 0 -e 9
        Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(folder / name)
    for name in ("b.webp", "c.webp"):  # cjxl reads them through a temporary PNG
        Image.fromarray(synthetic_photo()).save(folder / name)
    out = tmp_path / "out"
    seen: dict = {}
    done = threading.Event()
    main = threading.main_thread().ident

    def watch():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not done.is_set():
            if (out / "0fast.png.jxl").is_file() and live_cjxl(str(folder / "a1.png")):
                time.sleep(0.5)  # the main thread has had time to run ahead, if it does
                seen["pngs"] = sorted(p.name for p in out.glob("*.ac-tmp*.png"))
                seen["cjxl"] = len(live_cjxl(str(out)))
                if not done.is_set():
                    signal.pthread_kill(main, signal.SIGINT)
                return
            time.sleep(0.02)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        with pytest.raises(EncodeInterrupted) as stopped:
            encode_directory(
                folder, out, predictor, jobs=1, extra_flags=["-d", "0", "-e", "9"], progress=False
            )
    finally:
        done.set()
        watcher.join(5)
        signal.signal(signal.SIGINT, previous)
        for pid in live_cjxl(str(out)):  # hygiene, should there be any
            os.kill(pid, signal.SIGKILL)
    assert seen == {"pngs": [], "cjxl": 1}
    summary = stopped.value.summary
    assert [r.status for r in summary.results] == ["encoded"] + ["interrupted"] * 4
    assert not live_cjxl(str(out))
    assert [p.name for p in out.iterdir()] == ["0fast.png.jxl"]


def test_failed_images_give_their_place_in_the_queue_back(predictor, tmp_path):
    """Guards F9's bound against a stuck run: images that fail before cjxl (unreadable
    files, more of them than the 2 places ``jobs=1`` has) give their place back, so the run
    ends and the good image after them is encoded."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.jpg", "c.png", "d.webp"):
        (folder / name).write_bytes(b"not an image")
    Image.fromarray(synthetic_photo()).save(folder / "e.png")
    result: dict = {}
    worker = threading.Thread(
        target=lambda: result.update(
            summary=encode_directory(folder, tmp_path / "out", predictor, jobs=1, progress=False)
        ),
        daemon=True,
    )
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "encode waits for a place no job gives back"
    statuses = [r.status for r in result["summary"].results]
    assert statuses == ["failed"] * 4 + ["encoded"]
