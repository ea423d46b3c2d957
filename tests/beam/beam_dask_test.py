"""``attention-center beam`` on a real Dask cluster: worker processes, a killed worker, a lost
scheduler, against Beam's FnApiRunner on the same inputs.

One ``dask.distributed.LocalCluster`` per module: 2 worker *processes* (one thread each,
1.5 GiB each, under nannies), everything bound to 127.0.0.1, closed by the fixture whatever
happens. The inputs: 6 Kodak photos, a truncated real JPEG, a broken symbolic link, a
symbolic link loop and a text file (issue 26's hostile input #2). Each job runs once with
``--encode`` (module fixtures); the assertions share them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("apache_beam")
distributed = pytest.importorskip("distributed")

from attention_center.cli import main as cli  # noqa: E402

CJXL = subprocess.run(["which", "cjxl"], capture_output=True, text=True).stdout.strip() or None
pytestmark = pytest.mark.skipif(CJXL is None, reason="cjxl not installed (libjxl-tools)")


def run_cli(*args) -> int:
    return cli.main(["attention-center", "beam", *map(str, args)])


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def outputs(folder: Path) -> dict:
    """Every output file's bytes, by relative path."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def cluster():
    """2 worker processes on 127.0.0.1; closed at the end even when a test failed."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},  # its /health server
        memory_limit="1.5GiB",
    ) as local:
        yield local


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, kodak_paths, shared_data_dir) -> Path:
    folder = tmp_path_factory.mktemp("dask_inputs")
    for path in kodak_paths[:6]:
        (folder / path.name).symlink_to(path.resolve())
    jpeg = (shared_data_dir / "osie" / "data" / "stimuli" / "1001.jpg").read_bytes()
    (folder / "corrupt.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (folder / "broken.png").symlink_to(folder / "gone" / "missing.png")
    (folder / "loop_a.jpg").symlink_to(folder / "loop_b.jpg")
    (folder / "loop_b.jpg").symlink_to(folder / "loop_a.jpg")
    (folder / "notes.txt").write_text("not an image: ignored\n")
    return folder


@pytest.fixture(scope="module")
def fnapi(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("fnapi") / "out"
    status = run_cli("--input", f"{inputs}/*", "--output", out, "--encode", "--runner=FnApiRunner")
    return {"out": out, "status": status}


@pytest.fixture(scope="module")
def on_dask(inputs, cluster, tmp_path_factory):
    out = tmp_path_factory.mktemp("dask") / "out"
    status = run_cli(
        "--input",
        f"{inputs}/*",
        "--output",
        out,
        "--encode",
        "--runner",
        "dask",
        f"--dask_client_address={cluster.scheduler_address}",
    )
    return {"out": out, "status": status}


def test_dask_writes_exactly_what_fnapi_writes(fnapi, on_dask):
    """Same centres, same dead letters, same .jxl bytes, same records; exit 1 on both."""
    assert fnapi["status"] == on_dask["status"] == 1
    expected, got = outputs(fnapi["out"]), outputs(on_dask["out"])
    assert sorted(got) == sorted(expected)
    assert [name for name in got if name.endswith(".jxl")] and len(
        read_rows(on_dask["out"] / "centers.jsonl")
    ) == 6
    for name in expected:
        assert got[name] == expected[name], name


def test_dead_letters_name_the_corrupt_file_and_the_bad_links(on_dask, inputs):
    rows = read_rows(on_dask["out"] / "errors.jsonl")
    assert [(Path(r["file"]).name, r["stage"]) for r in rows] == [
        ("broken.png", "read"),
        ("corrupt.jpg", "decode"),
        ("loop_a.jpg", "read"),
        ("loop_b.jpg", "read"),
    ]
    assert "broken symbolic link" in rows[0]["message"]
    assert "symbolic link loop" in rows[2]["message"]


def test_counters_count_the_bad_links_on_fnapi_and_dask_says_what_it_can(inputs, tmp_path, capsys):
    """Predict only (no --encode) on both, Dask on a LocalCluster of 2 worker processes that
    the command starts and closes (``--dask_workers 2``): equal rows; FnApi's counters, the
    counts Dask can give (from the files)."""
    run_cli("--input", f"{inputs}/*", "--output", tmp_path / "f", "--runner=FnApiRunner")
    fn_out = capsys.readouterr().out
    status = run_cli("--input", f"{inputs}/*", "--output", tmp_path / "d", "--dask_workers", 2)
    dask_out = capsys.readouterr().out
    assert status == 1
    assert "images 6, skipped 0, errors 4, encoded 0" in fn_out and "ignored 1" in fn_out
    assert "not reported" in dask_out and "centres 6, errors 4, encoded 0" in dask_out
    for name in ("centers.jsonl", "errors.jsonl"):
        assert (tmp_path / "d" / name).read_bytes() == (tmp_path / "f" / name).read_bytes()
    assert not (tmp_path / "d" / "jxl").exists()


def test_ground_truth_build_on_dask_equals_fnapi(cluster, shared_data_dir, tmp_path):
    """``ground-truth beam``: SALICON's examples and 6 OSIE crowd files, byte for byte."""
    data = tmp_path / "data"
    (data / "osie" / "data" / "mouse_amt").mkdir(parents=True)
    (data / "salicon_examples").symlink_to((shared_data_dir / "salicon_examples").resolve())
    osie = shared_data_dir / "osie" / "data"
    (data / "osie" / "data" / "stimuli").symlink_to((osie / "stimuli").resolve())
    for path in sorted((osie / "mouse_amt").glob("*.mat"))[:6]:
        (data / "osie" / "data" / "mouse_amt" / path.name).symlink_to(path.resolve())
    common = ["--source", "salicon_mouse,osie_mouse_amt", "--data_dir", str(data)]
    for out, extra in (("f", []), ("d", ["--dask_address", cluster.scheduler_address])):
        argv = ["attention-center", "ground-truth", "beam", *common, "--out", tmp_path / out]
        assert cli.main([str(a) for a in argv + extra]) == 0
    for name in ("index.jsonl",):
        assert (tmp_path / "d" / name).read_bytes() == (tmp_path / "f" / name).read_bytes()
    frames = sorted(p.name for p in (tmp_path / "f" / "frames").iterdir())
    assert len(frames) == 16
    for name in frames:
        assert (tmp_path / "d" / "frames" / name).read_bytes() == (
            tmp_path / "f" / "frames" / name
        ).read_bytes()
    stats = [json.loads((tmp_path / o / "stats.json").read_text()) for o in ("f", "d")]
    assert stats[0] == stats[1] and stats[0]["errors"] == []


@pytest.mark.parametrize(
    "given,resolved",
    [
        (["--runner", "dask"], "apache_beam.runners.dask.dask_runner.DaskRunner"),
        (["--runner=DaskRunner"], "apache_beam.runners.dask.dask_runner.DaskRunner"),
        (
            ["--runner=apache_beam.runners.dask.dask_runner.DaskRunner"],
            "apache_beam.runners.dask.dask_runner.DaskRunner",
        ),
        ([], "FnApiRunner"),
        (["--runner", "FlinkRunner"], "FlinkRunner"),
    ],
)
def test_runner_names_resolve_and_dask_options_are_known_before_checking(given, resolved):
    """The issue's refusal: ``--runner DaskRunner --dask_client_address=...`` is accepted
    (the Dask runner's module is imported before Beam's options are checked)."""
    from attention_center.beam.runners import runner_args
    from attention_center.cli.beam import pipeline_options

    assert runner_args(given) == [f"--runner={resolved}"]
    if "dask" in resolved:
        options, _ = pipeline_options([*given, "--dask_client_address=tcp://127.0.0.1:1"])
        assert options.get_all_options()["address"] == "tcp://127.0.0.1:1"
    dask = "--runner=apache_beam.runners.dask.dask_runner.DaskRunner"
    assert (
        runner_args([], dask_address="tcp://127.0.0.1:1")
        == runner_args([], dask_workers=2)
        == [dask]
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_is_a_usage_error_before_any_work(inputs, tmp_path, capsys):
    address = f"tcp://127.0.0.1:{_free_port()}"
    status = run_cli(
        "--input",
        f"{inputs}/*",
        "--output",
        tmp_path / "o",
        "--dask_address",
        address,
        "--dask_connection_timeout=2",
    )
    assert status == 2
    assert f"--dask_address {address}: no Dask scheduler answered" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_both_dask_flags_or_a_dask_flag_with_another_runner_are_usage_errors(inputs, capsys):
    base = ("--input", f"{inputs}/*", "--output", "/nonexistent/never")
    assert run_cli(*base, "--dask_address", "tcp://127.0.0.1:1", "--dask_workers", "2") == 2
    assert "exclude each other" in capsys.readouterr().err
    assert run_cli(*base, "--dask_workers", "2", "--runner=FlinkRunner") == 2
    assert "need --runner dask" in capsys.readouterr().err


def _kill_a_busy_worker(cluster, out: Path, killed: dict, timeout_s: float = 120) -> None:
    """Waits until the job is encoding (``OUT/jxl`` exists), then SIGKILLs a worker that is
    running a task (its nanny starts a new one); notes how many images were done then."""
    with distributed.Client(cluster, set_as_default=False) as client:
        pids = client.run(os.getpid)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if (out / "jxl").is_dir():
                busy = [addr for addr, keys in client.processing().items() if keys]
                if busy:
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed["pid"] = pids[busy[0]]
                    records = out / "records"
                    killed["done"] = len(list(records.iterdir())) if records.is_dir() else 0
                    return
            time.sleep(0.02)


def test_a_worker_killed_mid_job_every_image_written_once(inputs, cluster, fnapi, tmp_path, capsys):
    """SIGKILL one worker process while the job runs: Dask reruns its tasks elsewhere (our
    outputs are atomic and named by the input, so a redone image is the same file again);
    or, if Dask gives up, the job says so and --skip_existing finishes the rest."""
    out = tmp_path / "out"
    killed: dict = {}
    killer = threading.Thread(target=_kill_a_busy_worker, args=(cluster, out, killed))
    killer.start()
    args = (
        "--input",
        f"{inputs}/*",
        "--output",
        out,
        "--encode",
        "--dask_address",
        cluster.scheduler_address,
    )
    try:
        status = run_cli(*args)
    finally:
        killer.join()
    err = capsys.readouterr().err
    assert killed.get("pid"), "no worker was busy while images were being done"
    assert killed["done"] < 6, "the kill came after the last image"
    outcome = "finished"
    if "the job failed" in err:  # Dask gave up: the rerun finishes the rest
        assert "--skip_existing" in err
        status = run_cli(*args, "--skip_existing")
        outcome = "failed with a clear message; --skip_existing finished the rest"
    print(f"worker {killed['pid']} killed after {killed['done']} of 6 images; the job {outcome}")
    assert status == 1  # the corrupt file and the bad links, as without the kill
    expected = outputs(fnapi["out"])
    got = outputs(out)
    assert sorted(got) == sorted(expected)  # no duplicate, no temporary left behind
    for name in expected:
        assert got[name] == expected[name], name


def test_a_scheduler_lost_mid_job_exits_1_with_a_clear_message(inputs, cluster, fnapi, tmp_path):
    """A scheduler and one worker in their own processes; the scheduler is SIGKILLed once
    the job has started: exit 1, a message naming the lost scheduler; --skip_existing
    against another cluster then finishes the rest without duplicates."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    scheduler = subprocess.Popen(
        [
            *dask,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-dashboard",
            "--dashboard-address",
            "127.0.0.1:0",
        ],  # its /health server
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_worker",
            address,
            "--nthreads",
            "1",
            "--memory-limit",
            "1.5GiB",
            "--no-dashboard",
            "--dashboard-address",
            "127.0.0.1:0",
            "--no-nanny",  # the worker in this process: killing it leaves no orphan
            "--host",
            "127.0.0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    out = tmp_path / "out"
    try:
        with distributed.Client(address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(1, timeout=60)

        def kill_scheduler():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not (
                (out / "records").is_dir() and any((out / "records").iterdir())
            ):
                time.sleep(0.05)
            scheduler.send_signal(signal.SIGKILL)

        killer = threading.Thread(target=kill_scheduler)
        killer.start()
        script = (
            "import sys; from attention_center.cli import main; sys.exit(main.main(sys.argv[1:]))"
        )
        run = subprocess.run(
            [
                sys.executable,
                "-c",
                script,
                "attention-center",
                "beam",
                "--input",
                f"{inputs}/*",
                "--output",
                str(out),
                "--encode",
                "--dask_address",
                address,
            ],
            capture_output=True,
            text=True,
            timeout=240,
        )
        killer.join()
    finally:
        for process in (scheduler, worker):
            process.kill()
            process.wait(timeout=30)
    print([line for line in run.stderr.splitlines() if "error:" in line])
    assert run.returncode == 1, run.stderr[-2000:]
    assert "the job failed" in run.stderr and "scheduler" in run.stderr, run.stderr[-2000:]
    assert "--skip_existing" in run.stderr
    assert len(list((out / "records").iterdir())) < 6
    resumed = run_cli(
        "--input",
        f"{inputs}/*",
        "--output",
        out,
        "--encode",
        "--skip_existing",
        "--dask_address",
        cluster.scheduler_address,
    )
    assert resumed == 1  # the bad inputs, as always
    expected, got = outputs(fnapi["out"]), outputs(out)
    assert sorted(got) == sorted(expected)
    for name in expected:
        assert got[name] == expected[name], name
