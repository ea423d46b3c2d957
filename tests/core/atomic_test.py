"""Atomic writes and recognisable temporaries (:mod:`attention_center.core.atomic`)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from attention_center.core import atomic


def test_write_failure_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    out = tmp_path / "center.tflite"
    out.write_bytes(b"previous model")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        atomic.atomic_write_bytes(out, b"new model" * 1000, fsync=True)
    assert out.read_bytes() == b"previous model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["center.tflite"]


def test_a_writer_that_fails_leaves_nothing_and_one_that_succeeds_replaces(tmp_path):
    out = tmp_path / "sub" / "model.keras"
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(out, suffix=".keras") as temporary:
            assert temporary.parent == out.parent and temporary.name.endswith(".keras")
            assert atomic.is_temporary(temporary) and temporary.name.startswith(".")
            temporary.write_bytes(b"half")
            raise RuntimeError("the writer crashed")
    assert list(out.parent.iterdir()) == []
    with atomic.atomic_path(out, suffix=".keras") as temporary:
        temporary.write_bytes(b"whole")
    assert out.read_bytes() == b"whole" and list(out.parent.iterdir()) == [out]
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0o600


def test_a_writer_that_writes_nothing_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="produced no file"):
        with atomic.atomic_path(tmp_path / "out.png"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_directories_appear_whole(tmp_path):
    out = tmp_path / "saved_model"
    out.mkdir()  # an empty folder may be replaced
    with atomic.atomic_path(out, directory=True) as staging:
        (staging / "saved_model.pb").write_bytes(b"pb")
    assert (out / "saved_model.pb").read_bytes() == b"pb"
    assert [p.name for p in tmp_path.iterdir()] == ["saved_model"]


def test_temporaries_of_a_killed_process_are_stale_and_removed(tmp_path):
    # A real process that dies (SIGKILL) while its temporary exists.
    code = (
        "import os, sys, signal\n"
        "from attention_center.core.atomic import atomic_path\n"
        "with atomic_path(sys.argv[1]) as t:\n"
        "    t.write_bytes(b'partial')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.jxl")], timeout=60)
    left = list(tmp_path.iterdir())
    assert len(left) == 1 and atomic.is_temporary(left[0]) and not (tmp_path / "a.jxl").exists()
    with atomic.atomic_path(tmp_path / "b.jxl") as ours:  # a live writer's temporary is not stale
        ours.write_bytes(b"x")
        assert atomic.stale_temporaries(tmp_path) == left
        assert atomic.remove_stale_temporaries(tmp_path) == left
        assert ours.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.jxl"]
    assert not atomic.is_temporary(tmp_path / "b.jxl")
