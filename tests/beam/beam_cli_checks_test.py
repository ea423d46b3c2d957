"""``attention-center beam``'s promises on small inputs, each a few seconds: usage errors
(exit 2) before any work, inputs never silently left out, one bad file name never stops the
job, each failed input named on stderr, a ``--dask_address`` that is not a scheduler refused
in time. One or two Kodak photos each (FnApiRunner, the bundled model, no ``--encode``)."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("apache_beam")

from attention_center.beam import io as beam_io  # noqa: E402
from attention_center.beam.records import dead_letter  # noqa: E402
from attention_center.beam.transforms import is_image_path, output_exclusions  # noqa: E402
from attention_center.cli import beam as beam_cli  # noqa: E402
from attention_center.cli import main as cli  # noqa: E402


def run_cli(*args) -> int:
    return cli.main(["attention-center", "beam", *map(str, args)])


def read_rows(path: Path) -> list[dict]:
    # strict UTF-8: a lone surrogate in a row would raise here
    return [json.loads(line) for line in path.read_bytes().decode("utf-8").splitlines() if line]


@pytest.fixture()
def photos(tmp_path, kodak_paths) -> Path:
    """``photos/a.png`` and ``photos/b.png``: two Kodak photos."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, path in zip(("a.png", "b.png"), kodak_paths[:2]):
        shutil.copyfile(path, folder / name)
    return folder


# 1. An unusable --output: exit 2 before any work (it was found after all of it: exit 1).


@pytest.mark.parametrize(
    "below,message", [("", "exists and is not a folder"), ("sub", "cannot create it")]
)
def test_an_unusable_output_is_a_usage_error_before_any_work(
    below, message, photos, tmp_path, capsys
):
    (tmp_path / "afile").write_text("x")
    output = tmp_path / "afile" / below if below else tmp_path / "afile"
    assert run_cli("--input", f"{photos}/*", "--output", output) == 2
    err = capsys.readouterr().err
    assert f"--output {output}: {message}" in err and "Traceback" not in err
    assert (tmp_path / "afile").read_text() == "x"


# 2. An --output that holds the input folder: its inputs are inputs (as for encode).


def test_an_output_above_the_input_folder_leaves_out_only_its_own_folders():
    assert output_exclusions("/data/photos/**", "/data/photos/out") == ("/data/photos/out",)
    assert output_exclusions("/data/photos/**", "/data") == ("/data/records", "/data/jxl")
    assert output_exclusions("/data/photos/**", "/data/photos") == (
        "/data/photos/records",
        "/data/photos/jxl",
    )
    exclude = output_exclusions("/data/photos/**", "/data")
    assert is_image_path("/data/photos/a.jpg", exclude)
    assert not is_image_path("/data/jxl/x.png", exclude)
    assert not is_image_path("/data/records/y.png", exclude)


def test_an_output_that_is_a_parent_of_the_input_folder_processes_every_input(photos, tmp_path):
    output = tmp_path  # photos/ lies inside it
    assert run_cli("--input", f"{photos}/**", "--output", output) == 0
    rows = read_rows(output / "centers.jsonl")
    assert [Path(r["file"]).name for r in rows] == ["a.png", "b.png"]
    assert sorted(p.name for p in (output / "records").iterdir()) == ["a.png.json", "b.png.json"]
    # the same folder as input and output: the same rows, nothing of its own read back
    assert run_cli("--input", f"{photos}/**", "--output", photos, "--skip_existing") == 0
    assert [Path(r["file"]).name for r in read_rows(photos / "centers.jsonl")] == ["a.png", "b.png"]


def test_an_input_inside_the_outputs_own_folders_is_a_usage_error(photos, tmp_path, capsys):
    (tmp_path / "jxl").mkdir()
    shutil.copyfile(photos / "a.png", tmp_path / "jxl" / "a.png")
    assert run_cli("--input", f"{tmp_path}/jxl/**", "--output", tmp_path) == 2
    assert "the job's own output" in capsys.readouterr().err
    assert not (tmp_path / "records").exists()


# 3. A file name that is not valid UTF-8: processed like any other, rows valid UTF-8 JSON.


def test_a_name_that_is_not_utf8_is_processed_and_written_as_valid_json(photos, tmp_path, capsys):
    folder = os.fsencode(photos)
    shutil.copyfile(photos / "b.png", os.path.join(folder, b"bad\xff.png"))
    (photos / "b.png").unlink()
    with open(os.path.join(folder, b"broken\xfe.jpg"), "wb") as handle:
        handle.write(b"not a jpeg")
    out = tmp_path / "out"
    assert run_cli("--input", f"{photos}/*", "--output", out) == 1  # broken\xfe.jpg failed
    centers, errors = read_rows(out / "centers.jsonl"), read_rows(out / "errors.jsonl")
    assert [Path(r["file"]).name for r in centers] == ["a.png", "bad\\xff.png"]
    assert [(Path(r["file"]).name, r["stage"]) for r in errors] == [("broken\\xfe.jpg", "decode")]
    assert b"bad\xff.png.json" in os.listdir(os.fsencode(out / "records"))  # its real bytes
    assert "broken\\xfe.jpg: decode:" in capsys.readouterr().err
    # a rerun finds the records of both images (the skipped rows cross Beam's coders too)
    assert run_cli("--input", f"{photos}/*", "--output", out, "--skip_existing") == 1
    assert read_rows(out / "centers.jsonl") == centers


def test_names_that_are_not_utf8_hash_and_print():
    name = os.fsdecode(b"/in/bad\xff.png")
    assert beam_io.stable_hash(name) == beam_io.stable_hash(name)  # raised UnicodeEncodeError
    assert beam_io.relative_name(name, "/elsewhere").startswith("_outside/")
    assert beam_io.printable(name) == "/in/bad\\xff.png"
    assert beam_io.printable("/in/été.png") == "/in/été.png"
    row = dead_letter(name, "decode", f"{name}: truncated")
    assert row == {"file": "/in/bad\\xff.png", "stage": "decode", "message": row["message"]}
    assert row["message"] == "/in/bad\\xff.png: truncated"


# 4. A --dask_address that is not a Dask scheduler: exit 2 within the connect timeout.


@pytest.fixture()
def http_port():
    """A local HTTP server (a dashboard's port, say) that does not speak Dask."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_dask_address_that_is_no_scheduler_fails_in_time(photos, tmp_path, http_port):
    pytest.importorskip("distributed")
    command = [sys.executable, "-m", "attention_center", "beam", "--input", f"{photos}/*"]
    command += ["--output", str(tmp_path / "o"), "--dask_connection_timeout=2"]
    for address, message in [
        (f"tcp://127.0.0.1:{http_port}", "no Dask scheduler answered within 2 s"),
        ("garbage", "not a Dask scheduler address"),
    ]:
        start = time.monotonic()
        done = subprocess.run(
            [*command, "--dask_address", address], capture_output=True, text=True, timeout=60
        )  # it hung for minutes
        assert time.monotonic() - start < 30
        assert done.returncode == 2, done.stderr
        assert f"--dask_address {address}: {message}" in done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "o").exists()


def test_a_dask_worker_address_is_not_a_scheduler():
    distributed = pytest.importorskip("distributed")
    from attention_center.beam.runners import scheduler_threads
    from attention_center.core.command_line import UsageError

    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        assert scheduler_threads(cluster.scheduler_address, 10) == 2
        worker = next(iter(cluster.workers.values())).address
        with pytest.raises(UsageError, match="not a Dask scheduler \\(a Dask Worker\\)"):
            scheduler_threads(worker, 10)


# 13. --input DIR: a usage error that suggests DIR/** (it did nothing and exited 0).


def test_a_folder_as_input_is_a_usage_error_that_suggests_a_pattern(photos, tmp_path, capsys):
    for given in (str(photos), f"{photos}/"):
        assert run_cli("--input", given, "--output", tmp_path / "o") == 2
        assert f"did you mean '{photos}/**'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# 14. Each failed input named on stderr (the first SHOWN_FAILURES, then how many more).


def test_failed_inputs_are_named_on_stderr(photos, tmp_path, capsys, monkeypatch):
    (photos / "zero.jpg").write_bytes(b"")
    (photos / "text.png").write_text("not a png")
    (photos / "half.png").write_bytes((photos / "a.png").read_bytes()[:3000])
    out = tmp_path / "out"
    assert run_cli("--input", f"{photos}/*", "--output", out) == 1
    err = capsys.readouterr().err
    for name in ("half.png", "text.png", "zero.jpg"):
        assert f"failed: {photos / name}: decode: " in err
    assert f"3 input(s) failed; each in {out / 'errors.jsonl'}" in err
    monkeypatch.setattr(beam_cli, "SHOWN_FAILURES", 2)
    assert run_cli("--input", f"{photos}/*", "--output", out, "--skip_existing") == 1
    err = capsys.readouterr().err
    assert err.count("failed: ") == 2 and "3 input(s) failed; 1 more in" in err


# 15. A negative number after a space is the flag's value, refused by its bound.


def test_a_negative_count_is_refused_by_its_bound_not_missing(photos, tmp_path, capsys):
    ours, beam, _ = beam_cli.split_args(["p", "--dask_workers", "-1", "--some_option", "-2.5"])
    assert ours == ["p", "--dask_workers", "-1"] and beam == ["--some_option", "-2.5"]
    for args in (("--dask_workers", "-1"), ("--dask_workers", "1", "--dask_partitions", "-3")):
        assert run_cli("--input", f"{photos}/*", "--output", tmp_path / "o", *args) == 2
        err = capsys.readouterr().err
        assert "Missing value" not in err
        assert f"{args[-1]} is not a" in err  # a positive / non-negative integer
    assert not (tmp_path / "o").exists()
