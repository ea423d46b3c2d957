"""``predict_images`` decodes ahead on threads while the model runs (perf audit F5), and a
TFLite model, which runs one frame at a time, gets each frame as soon as it is decoded
instead of a held batch (F8): same centres, same order, bad files reported in their place,
and an interruption stops the decoding. Real photos (OSIE), the real bundled TFLite model."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from attention_center.inference import prediction as prediction_module
from attention_center.inference.prediction import predict_images
from attention_center.inference.predictors import (
    KerasPredictor,
    Predictor,
    TFLitePredictor,
    load_predictor,
)

#: decode threads are named so (``DECODE_THREAD_PREFIX``)
DECODE_THREAD_PREFIX = "attention-center-decode"


@pytest.fixture(scope="module")
def osie_paths(shared_data_dir) -> list[Path]:
    paths = sorted((shared_data_dir / "osie" / "data" / "stimuli").glob("*.jpg"))[:20]
    if len(paths) < 20:
        pytest.skip("the OSIE stimuli are not there")
    return paths


@pytest.fixture(scope="module")
def tflite():
    predictor = load_predictor(None, num_threads=1)  # the bundled default model's .tflite
    assert isinstance(predictor, TFLitePredictor)
    return predictor


class Spy(Predictor):
    """The real predictor, with the batches it gets recorded; ``interrupt_on`` (a call
    number, from 1) raises ``KeyboardInterrupt`` there, as a Ctrl-C during invoke does."""

    def __init__(self, inner: Predictor, useful_batch_size="inner", interrupt_on=None):
        self.inner = inner
        self.name, self.path, self.frame_hw = inner.name, inner.path, inner.frame_hw
        self.has_weight_map = inner.has_weight_map
        self.useful_batch_size = (
            getattr(inner, "useful_batch_size", None)
            if useful_batch_size == "inner"
            else useful_batch_size
        )
        self.interrupt_on = interrupt_on
        self.batches: list[int] = []

    def predict_frames(self, frames):
        self.batches.append(len(frames))
        if self.interrupt_on is not None and len(self.batches) >= self.interrupt_on:
            raise KeyboardInterrupt
        return self.inner.predict_frames(frames)


class DecodeLog:
    """Wraps the real ``decode_into_frame`` (and ``decode_image``): records which file each
    decode was of, when it started and ended, and on which thread."""

    def __init__(self, monkeypatch, hold_first_until_second: bool = False):
        self.lock = threading.Lock()
        self.started: list[str] = []
        self.ended: list[str] = []
        self.threads: set[str] = set()
        self.second_started = threading.Event()
        self.hold_first = hold_first_until_second
        self.first_saw_second = None
        for name in ("decode_into_frame", "decode_image"):
            real = getattr(prediction_module, name)
            monkeypatch.setattr(prediction_module, name, self._wrapped(real))

    def _wrapped(self, real):
        def decode(path, *args, **kwargs):
            with self.lock:
                self.started.append(Path(path).name)
                self.threads.add(threading.current_thread().name)
                number = len(self.started)
            if number == 2:
                self.second_started.set()
            if number == 1 and self.hold_first:
                # The first decode ends only once the second has begun, or after 10 s.
                self.first_saw_second = self.second_started.wait(10)
            try:
                return real(path, *args, **kwargs)
            finally:
                with self.lock:
                    self.ended.append(Path(path).name)

        return decode


def decode_threads_alive() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(DECODE_THREAD_PREFIX)]


def wait_for_no_decode_threads(seconds: float = 5.0) -> list[threading.Thread]:
    deadline = time.monotonic() + seconds
    while decode_threads_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    return decode_threads_alive()


def test_a_tflite_model_gets_each_frame_as_it_is_decoded(monkeypatch, osie_paths, tflite):
    # F8: the TFLite file runs batch 1; holding 8 decoded frames for it only held memory.
    spy = Spy(tflite)
    log = DecodeLog(monkeypatch)
    stream = predict_images(osie_paths[:10], spy, batch_size=8)
    first = next(stream)
    decoded_before_first = len(log.started)
    rest = list(stream)
    assert first.ok and len(rest) == 9
    assert spy.batches == [1] * 10
    # The first centre comes before the eighth image is decoded (a few are decoded ahead).
    assert decoded_before_first < 8, log.started
    assert TFLitePredictor.useful_batch_size == 1
    assert KerasPredictor.useful_batch_size is None  # Keras keeps --batch_size


def test_a_predictor_that_batches_still_gets_batch_size_frames(osie_paths, tflite):
    batching = Spy(tflite, useful_batch_size=None)
    one_at_a_time = Spy(tflite)
    kwargs = dict(batch_size=4, decode_threads=2)
    batched = list(predict_images(osie_paths[:10], batching, **kwargs))
    single = list(predict_images(osie_paths[:10], one_at_a_time, **kwargs))
    assert batching.batches == [4, 4, 2] and one_at_a_time.batches == [1] * 10
    assert [p.source for p in batched] == [p.source for p in single]
    np.testing.assert_array_equal([p.center for p in batched], [p.center for p in single])


@pytest.mark.parametrize("decode_threads", [2, None], ids=["two_threads", "default"])
def test_decoding_overlaps(monkeypatch, osie_paths, tflite, decode_threads):
    # F5: the next image is decoded while this one is: the first decode waits (up to 10 s)
    # for the second to begin, which only happens when decoding runs ahead on threads.
    if decode_threads is None and len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: the default is the serial path")
    log = DecodeLog(monkeypatch, hold_first_until_second=True)
    kwargs = {} if decode_threads is None else {"decode_threads": decode_threads}
    stream = predict_images(osie_paths[:6], tflite, batch_size=1, **kwargs)
    first = next(stream)
    assert first.ok
    assert log.first_saw_second, "the second image's decode did not start during the first's"
    assert first.source == os.fspath(osie_paths[0])
    assert len(list(stream)) == 5
    assert all(name.startswith(DECODE_THREAD_PREFIX) for name in log.threads), log.threads
    assert log.started == [p.name for p in osie_paths[:6]]
    assert sorted(log.ended) == log.started


def test_threads_give_the_serial_results_in_order_with_bad_files_in_place(
    monkeypatch, tmp_path, osie_paths, tflite
):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(osie_paths[0].read_bytes()[:300])  # a JPEG header, then nothing
    big = tmp_path / "big.png"  # over max_pixels: refused on its header
    Image.fromarray(np.asarray(Image.open(osie_paths[1]).resize((1200, 900)))).save(big)
    items = [*osie_paths[:3], corrupt, *osie_paths[3:6], big, *osie_paths[6:10]]
    limit = 800 * 900  # the OSIE photos are 800 x 600
    runs = {
        (threads, batch): list(
            predict_images(
                items, tflite, batch_size=batch, decode_threads=threads, max_pixels=limit
            )
        )
        for threads, batch in [(0, 8), (2, 8), (3, 1), (2, 1)]
    }
    serial = runs[(0, 8)]
    assert [p.source for p in serial] == [os.fspath(p) for p in items]
    assert [p.ok for p in serial] == [p not in (corrupt, big) for p in items]
    assert "more than the 720,000 allowed" in serial[7].error and serial[3].error
    for key, run in runs.items():
        assert [p.source for p in run] == [p.source for p in serial], key
        assert [p.error for p in run] == [p.error for p in serial], key
        assert [p.original_hw for p in run] == [p.original_hw for p in serial], key
        for got, want in zip(run, serial):
            if want.ok:
                np.testing.assert_array_equal(got.center, want.center)
    # encode's path (the full image kept) and in-memory images, on threads
    pixels = np.asarray(Image.open(osie_paths[2]).convert("RGB"))
    mixed = [osie_paths[0], pixels, corrupt, osie_paths[2]]
    kept = [
        list(predict_images(mixed, tflite, keep_images=True, decode_threads=threads))
        for threads in (0, 2)
    ]
    for got, want in zip(*kept):
        assert (got.source, got.error) == (want.source, want.error)
        if want.ok:
            np.testing.assert_array_equal(got.center, want.center)
            np.testing.assert_array_equal(got.image, want.image)
    assert kept[1][1].source == "<array 1>"
    np.testing.assert_array_equal(kept[1][1].center, kept[1][3].center)


def test_decode_threads_zero_or_one_decode_in_the_calling_thread(monkeypatch, osie_paths, tflite):
    for threads in (0, 1):
        log = DecodeLog(monkeypatch)
        assert len(list(predict_images(osie_paths[:3], tflite, decode_threads=threads))) == 3
        assert log.threads == {threading.current_thread().name}
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="decode_threads"):
            next(predict_images(osie_paths[:3], tflite, decode_threads=bad))


def test_an_interrupt_during_the_model_stops_the_decoding(monkeypatch, osie_paths, tflite):
    # Ctrl-C (or SIGTERM, made a KeyboardInterrupt) while the model runs: raised in
    # predict_images itself; its threads must go even though the caller keeps the stream.
    spy = Spy(tflite, interrupt_on=3)
    log = DecodeLog(monkeypatch)
    stream = predict_images(osie_paths, spy, decode_threads=2)
    with pytest.raises(KeyboardInterrupt):
        for _ in stream:
            pass
    assert wait_for_no_decode_threads() == []
    # Two images done, the third in the model, and at most 2 + 1 decoded ahead of it.
    assert len(log.started) <= 3 + 3, log.started
    assert sorted(log.started) == sorted(log.ended)  # no decode left running
    del stream


def test_an_interrupt_in_the_callers_loop_stops_the_decoding(monkeypatch, osie_paths, tflite):
    # As `attention-center predict` and `encode` do: the KeyboardInterrupt comes in the
    # caller's loop (writing a row), the stream is suspended; leaving the function drops it.
    log = DecodeLog(monkeypatch)

    def consume() -> int:
        done = 0
        stream = predict_images(osie_paths, tflite, batch_size=8, decode_threads=2)
        try:
            for _ in stream:
                done += 1
                if done == 3:
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            time.sleep(0.3)  # the caller writes what it has; decoding ahead stays bounded
            assert len(log.started) <= done + 3, log.started
        return done

    assert consume() == 3
    assert wait_for_no_decode_threads() == []
    assert len(log.started) <= 3 + 3, log.started
    assert sorted(log.started) == sorted(log.ended)
