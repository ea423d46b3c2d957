"""core.processes: children in their own process group, killed with us, started without
running code of ours (or any library's fork handlers) in the child.

Real processes: a fresh Python interpreter starts the children (so its fork hooks and its
death do not touch the test process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import REPO

from attention_center.core.processes import ChildProcesses, run_child


def _python(script: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,
    )


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as gone)."""
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux: setpriv, /proc")
def test_starting_a_child_runs_no_fork_handler_in_it(tmp_path):
    """A full fork runs every at-fork handler in the child (Beam's gRPC has one, and it
    aborted cjxl now and then); the child is started by vfork instead, so none runs."""
    marker = tmp_path / "handler_ran"
    result = _python(
        f"""
        import os
        from attention_center.core.processes import run_child
        os.register_at_fork(after_in_child=lambda: open({str(marker)!r}, "w").close())
        print(run_child(["true"]).returncode)
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "0"
    assert not marker.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux: PR_SET_PDEATHSIG")
def test_a_child_dies_with_its_parent_and_leads_its_own_group():
    result = _python(
        """
        import os, signal
        from attention_center.core.processes import ChildProcesses
        child = ChildProcesses().start(["sleep", "60"])
        print(child.pid, os.getpgid(child.pid), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    assert result.returncode == -signal.SIGKILL
    pid, group = (int(v) for v in result.stdout.split())
    assert group == pid  # its own process group: a terminal's Ctrl-C reaches us only
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(pid)


def test_a_program_that_cannot_run_raises_as_popen_does(tmp_path):
    with pytest.raises(FileNotFoundError):
        run_child(["attention-center-no-such-program"])
    with pytest.raises(FileNotFoundError):
        run_child([str(tmp_path / "missing")])
    script = tmp_path / "not_executable"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    if not os.access(script, os.X_OK):  # root may run a file with no x bit? never here
        with pytest.raises(PermissionError):
            run_child([str(script)])


def test_the_childs_output_and_status_come_back():
    result = ChildProcesses().run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (result.returncode, result.stdout, result.stderr) == (3, b"out\n", b"err\n")
    assert not result.stopped
