"""``ground-truth beam`` refuses what is neither its flag nor a Beam pipeline option.

Everything that is not one of the command's flags goes to Beam, which only warns about an
option it does not know: a misspelt ``--sorce`` built the default sources (hundreds of
records) and exited 0. Now, as ``attention-center beam`` does, such a flag (or a stray
argument) is a usage error, exit 2, named, before any output. The command as a user runs
it, in this process, on a hand-written generic CSV naming a real photo.
"""

from __future__ import annotations

import shutil

import pytest
from conftest import FIXTURES

from attention_center.cli import main as cli
from attention_center.core.command_line import UsageError

pytest.importorskip("apache_beam")

STIMULUS = FIXTURES / "ground_truth" / "osie" / "data" / "stimuli" / "1001.jpg"


@pytest.fixture()
def source(tmp_path):
    shutil.copy(STIMULUS, tmp_path / "y.jpg")
    rows = [f"y.jpg,{o},{380 + 3 * i},{290 + 2 * i},mouse,{i}" for o in "AB" for i in range(6)]
    path = tmp_path / "points.csv"
    path.write_text("\n".join(["image,observer,x,y,source,order", *rows]) + "\n")
    return path


@pytest.mark.parametrize(
    "extra, named",
    [
        (["--bogus_flag", "3"], "unknown flag(s) --bogus_flag"),
        (["--bogus_flag=3", "--direct_num_workers", "1"], "unknown flag(s) --bogus_flag"),
        (["-x", "3"], "unknown flag(s) -x"),
        (["stray"], "unexpected argument(s) ['stray']"),
    ],
)
def test_an_unknown_flag_is_a_usage_error_before_any_output(extra, named, source, tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(
        [
            "attention-center",
            "ground-truth",
            "beam",
            "--source",
            str(source),
            "--data_dir",
            str(tmp_path),
            "--out",
            str(out),
            *extra,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err[-2000:]
    assert named in err
    assert not out.exists()


def test_a_misspelt_source_flag_does_not_build_the_defaults(source, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["--sorce", str(source), "--data_dir", str(tmp_path), "--out", str(out)]
    code = cli.main(["attention-center", "ground-truth", "beam", *args])
    err = capsys.readouterr().err
    assert code == 2 and "unknown flag(s) --sorce" in err, err[-2000:]
    assert not out.exists()


def test_the_shared_check_keeps_beam_options_and_their_values():
    from attention_center.core.beam_options import checked_pipeline_options, stray_arguments

    options = checked_pipeline_options(
        ["--runner=FnApiRunner", "--direct_num_workers", "2", "--job_name", "x"]
    )
    assert options.get_all_options()["direct_num_workers"] == 2
    assert stray_arguments(["--runner", "FnApiRunner", "--save_main_session", "a", "b"]) == ["b"]
    assert stray_arguments(["--direct_num_workers", "-1"]) == []  # a negative value
    with pytest.raises(UsageError, match="--inptu"):
        checked_pipeline_options(["--inptu", "x"], "attention-center beam")
