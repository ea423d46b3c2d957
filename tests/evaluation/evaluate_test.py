"""``attention-center evaluate`` and the baselines, on real OSIE eye-tracking records.

The index is a small stand-in for a ground-truth build (same fields as
``attention_center.core.ground_truth_index``): for each OSIE image, each observer's fixations 2-4
(the first one is the pre-stimulus fixation), converted from MATLAB's 1-based
pixels, and their mean as the centre.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from conftest import REPO  # noqa: E402

TEST_IDS = [1001, 1002, 1003, 1004, 1005]
TRAIN_IDS = list(range(1006, 1036))


@pytest.fixture(scope="module")
def osie_rows(shared_data_dir) -> dict[int, dict]:
    """Index rows for OSIE images 1001-1035 from the real eye-tracking file."""
    mat = scipy.io.loadmat(
        shared_data_dir / "osie" / "data" / "eye" / "fixations.mat",
        squeeze_me=True,
        struct_as_record=False,
    )["fixations"]
    rows = {}
    for entry in mat[:35]:
        stem = int(Path(entry.img).stem)
        h, w = 600, 800
        points, observer = [], []
        for s, subject in enumerate(np.atleast_1d(entry.subjects)):
            xy = np.stack([np.atleast_1d(subject.fix_x), np.atleast_1d(subject.fix_y)], 1) - 1.0
            xy = xy[1:4]
            xy = xy[
                (xy[:, 0] >= -0.5)
                & (xy[:, 0] < w - 0.5)
                & (xy[:, 1] >= -0.5)
                & (xy[:, 1] < h - 0.5)
            ]
            points += xy.tolist()
            observer += [s] * len(xy)
        rows[stem] = {
            "image_id": f"osie/{stem}",
            "dataset": "osie",
            "source": "osie_eye",
            "modality": "eye",
            "split": "test" if stem in TEST_IDS else "train",
            "data_dir": str(shared_data_dir.resolve()),
            "image_path": f"osie/data/stimuli/{stem}.jpg",
            "original_hw": [h, w],
            "frame_hw": [480, 640],
            "frame_path": f"frames/osie_{stem}.jpg",
            "center": np.mean(points, axis=0).tolist(),
            "points": points,
            "observer_of_point": observer,
            "num_observers": len(np.atleast_1d(entry.subjects)),
            "fallback": None,
        }
    return rows


def _write_index(directory: Path, rows) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "index.jsonl", "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return directory


@pytest.fixture(scope="module")
def gt_dir(osie_rows, tmp_path_factory) -> Path:
    rows = [osie_rows[i] for i in TEST_IDS + TRAIN_IDS]
    mouse = dict(osie_rows[1001], source="osie_mouse_lab", modality="mouse")
    fallback = dict(osie_rows[1002], source="other_eye", fallback="no points; image centre")
    return _write_index(tmp_path_factory.mktemp("gt"), rows + [mouse, fallback])


def _error(predicted, row) -> float:
    h, w = row["original_hw"]
    return float(np.hypot(*(np.asarray(predicted) - row["center"])) / np.hypot(h, w))


def test_select_records_filters(gt_dir):
    from attention_center.core.ground_truth_index import select_records

    test = select_records(gt_dir, "test", modality="eye")
    assert [r["image_id"] for r in test] == [f"osie/{i}" for i in TEST_IDS]
    assert {r["source"] for r in test} == {"osie_eye"}  # no mouse record, no fallback
    assert len(select_records(gt_dir, "test", modality="any")) == 6
    assert len(select_records(gt_dir, "test", modality="eye", include_fallbacks=True)) == 6
    assert len(select_records(gt_dir, "test")) == 6  # any modality by default
    assert len(select_records(gt_dir, "train", max_images=4)) == 4
    both = select_records(
        gt_dir,
        "test",
        modality="any",
        include_fallbacks=True,
        sources=["osie_mouse_lab", "osie_eye", "other_eye"],
        one_per_image=True,
    )
    assert {(r["image_id"], r["source"]) for r in both} >= {("osie/1001", "osie_mouse_lab")}
    assert len(both) == len({r["image_id"] for r in both})  # the preferred source per image


def test_cli_google_model_and_baselines(gt_dir, osie_rows, google_model_path, tmp_path):
    out_md, out_json = tmp_path / "table.md", tmp_path / "results.json"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "attention_center",
            "evaluate",
            f"--data={gt_dir}",
            f"--model={google_model_path}",
            f"--out_md={out_md}",
            f"--out_json={out_json}",
            "--compare_to=dataset-mean",
            "--noprogress",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = out_md.read_text()
    assert table in proc.stdout
    table, _, compared = table.partition("\nMean error over ")
    lines = table.strip().splitlines()
    assert len(lines) == 2 + 4  # header, rule, 4 rows
    assert lines[4].startswith("| google_center.tflite |") and "n/a" in lines[4]
    results = json.loads(out_json.read_text())
    methods = {m["name"].split(" (")[0]: m for m in results["methods"]}
    assert set(methods) == {
        "image centre",
        "dataset-mean centre",
        "google_center.tflite",
        "human ceiling",
    }
    test_rows = [osie_rows[i] for i in TEST_IDS]
    for method in methods.values():
        assert method["summary"]["num_images"] == 5
        assert method["per_image"]["image_id"] == [r["image_id"] for r in test_rows]
    # Baselines recomputed from their definitions.
    image_centre = [_error([399.5, 299.5], r) for r in test_rows]
    np.testing.assert_allclose(
        methods["image centre"]["per_image"]["error"], image_centre, atol=1e-6
    )
    train = [osie_rows[i] for i in TRAIN_IDS]
    mean_uv = np.mean([(np.asarray(r["center"]) + 0.5) / [800, 600] for r in train], axis=0)
    dataset_mean = [_error(mean_uv * [800, 600] - 0.5, r) for r in test_rows]
    np.testing.assert_allclose(
        methods["dataset-mean centre"]["per_image"]["error"], dataset_mean, atol=1e-6
    )
    # --compare_to: every other row but the human ceiling, over the dataset-mean centre's.
    assert compared.startswith("dataset-mean centre (train, 30 records)'s:")
    by_method = {c["method"].split(" (")[0]: c for c in results["comparisons"]}
    assert set(by_method) == {"image centre", "google_center.tflite"}
    image_vs_mean = by_method["image centre"]
    assert image_vs_mean["ratio"] == pytest.approx(np.mean(image_centre) / np.mean(dataset_mean))
    assert image_vs_mean["low"] <= image_vs_mean["ratio"] <= image_vs_mean["high"]
    assert image_vs_mean["num_images"] == 5
    assert f"- image centre: {image_vs_mean['ratio']:.2f}x (95% CI" in compared
    human = methods["human ceiling"]["summary"]
    assert 0 < human["mean_error"] < methods["image centre"]["summary"]["mean_error"]
    # Google's model: preprocessed as Google does (tf.image.resize_with_pad, bicubic,
    # antialias) and run by itself, its centre mapped back through the frame geometry.
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from attention_center.core.frames import frame_transform
    from attention_center.core.images import load_image

    interpreter = Interpreter(model_path=str(google_model_path))
    interpreter.allocate_tensors()
    image_input = [d for d in interpreter.get_input_details() if d["name"] == "image:0"][0]
    google = methods["google_center.tflite"]["per_image"]["error"]
    for row, error in zip(test_rows[:1], google):
        image = load_image(Path(row["data_dir"]) / row["image_path"])
        frame = tf.image.resize_with_pad(
            image.astype(np.float32) / 255.0, 480, 640, method="bicubic", antialias=True
        ).numpy()
        interpreter.set_tensor(image_input["index"], frame[None])
        interpreter.invoke()
        x, y = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]
        expected = _error(frame_transform(image.shape[:2], (480, 640)).to_original(x, y), row)
        assert error == pytest.approx(expected, abs=0.002)  # Pillow vs TF resampling only


def test_keras_model_weight_map_and_a_bad_image(gt_dir, osie_rows, tmp_path):
    import attention_center as ac
    from attention_center.core.images import load_image, resize_with_pad
    from attention_center.evaluation.evaluate import evaluate, markdown_table
    from attention_center.metrics.saliency import SALIENCY_METRICS

    # A live model (evaluate takes anything load_predictor takes; loading
    # .keras files is the predictors tests' job, and costs ~10 s here).
    model = ac.build_model(
        "mobilenet_v2",
        input_shape=(96, 128, 3),
        alpha=0.35,
        backbone_weights=None,
        head_width=8,
        name="small",
    )
    bad_image = tmp_path / "broken.jpg"
    bad_image.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    bad = dict(
        osie_rows[1001], image_id="osie/1001b", data_dir=str(tmp_path), image_path="broken.jpg"
    )
    data = _write_index(tmp_path / "gt", [osie_rows[i] for i in TEST_IDS + TRAIN_IDS] + [bad])

    # One batch holds all six images, the broken one among them.
    evaluation = evaluate(data, [model], batch_size=8, progress=False)
    assert len(evaluation.failures) == 1 and "broken.jpg" in evaluation.failures[0]
    by_name = {m.name.split(" (")[0]: m for m in evaluation.methods}
    assert set(by_name) == {"image centre", "dataset-mean centre", "small", "human ceiling"}
    for method in evaluation.methods:
        assert method.summary()["num_images"] == 5  # the broken image is in no row
    summary = by_name["small"].summary()
    assert 0 <= summary["AUC-Judd"] <= 1 and 0 <= summary["SIM"] <= 1 and summary["KLD"] >= 0
    assert all(np.isfinite(summary[m]) for m in SALIENCY_METRICS)
    assert by_name["image centre"].summary()["NSS"] is None
    table = markdown_table(evaluation.methods)
    assert "| small |" in table and table.count("n/a") == 3 * 5
    # The centre error of one image, recomputed from the model's own output.
    row = osie_rows[TEST_IDS[0]]
    frame, transform = resize_with_pad(
        load_image(Path(row["data_dir"]) / row["image_path"]), (96, 128)
    )
    x, y = np.asarray(model(frame[None], training=False)["center"])[0]
    index = [r["image_id"] for r in evaluation.records].index(row["image_id"])
    assert by_name["small"].errors[index] == pytest.approx(
        _error(transform.to_original(x, y), row), abs=1e-5
    )
    assert np.isnan(
        by_name["small"].errors[[r["image_id"] for r in evaluation.records].index("osie/1001b")]
    )


def test_human_ceiling_on_real_records(osie_rows):
    from attention_center.core.centers import normalized_center_errors
    from attention_center.evaluation.baselines import (
        image_center_predictions,
        split_half_consistency,
    )

    rows = list(osie_rows.values())
    errors, same = split_half_consistency(rows, num_splits=8, seed=0)
    assert errors.shape == (35,) and np.all(np.isfinite(errors)) and np.all(errors > 0)
    assert np.all((same >= 0) & (same <= 1))
    centre = normalized_center_errors(
        image_center_predictions(rows),
        [r["center"] for r in rows],
        [r["original_hw"] for r in rows],
    )
    # People agree with each other better than the image centre predicts them.
    assert errors.mean() < 0.8 * centre.mean()
    again, _ = split_half_consistency(rows, num_splits=8, seed=0)
    other, _ = split_half_consistency(rows, num_splits=8, seed=1)
    np.testing.assert_array_equal(errors, again)
    assert not np.allclose(errors, other)
    # Independent of the order of the records.
    reversed_errors, _ = split_half_consistency(rows[::-1], num_splits=8, seed=0)
    np.testing.assert_array_equal(errors, reversed_errors[::-1])


def test_split_half_of_two_observers_is_their_distance():
    from attention_center.evaluation.baselines import split_half_consistency

    row = {
        "image_id": "x",
        "original_hw": [300, 400],
        "center": [0, 0],
        "points": [[10, 10], [20, 30], [200, 100], [260, 180]],
        "observer_of_point": [3, 3, 7, 7],
    }
    one_observer = dict(row, points=[[10, 10]], observer_of_point=[0])
    errors, same = split_half_consistency([row, one_observer], num_splits=3)
    expected = np.hypot(230 - 15, 140 - 20) / 500
    assert errors[0] == pytest.approx(expected)
    assert same[0] == 1.0  # (15, 20) and (230, 140) are both in group (0, 0)
    assert np.isnan(errors[1]) and np.isnan(same[1])


def test_cli_usage_errors(tmp_path, gt_dir, capsys):
    from attention_center.cli.main import main

    assert main(["attention-center", "evaluate"]) == 2
    assert "--data is required" in capsys.readouterr().err
    _write_index(tmp_path, [])
    assert main(["attention-center", "evaluate", f"--data={tmp_path}"]) == 2
    assert "no records" in capsys.readouterr().err
    missing = tmp_path / "missing.tflite"
    assert main(["attention-center", "evaluate", f"--data={gt_dir}", f"--model={missing}"]) == 2
    assert f"{missing}: no such model file" in capsys.readouterr().err
    argv = ["attention-center", "evaluate", f"--data={gt_dir}", "--compare_to=nosuch"]
    assert main(argv + ["--noprogress"]) == 2
    assert "no row named 'nosuch': the rows are 'image centre'" in capsys.readouterr().err


def test_evaluate_and_the_predict_cli_import_into_one_process():
    """Both define a --model flag; evaluate keeps its flags in its own FlagValues."""
    code = (
        "import attention_center.cli.predict as p, attention_center.cli.evaluate as ev; "
        "ev.FLAGS(['evaluate', '--model=a.keras', '--model=b.tflite']); "
        "p.FLAGS(['predict', '--model=c.tflite']); print(ev.FLAGS.model, p.FLAGS.model)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "['a.keras', 'b.tflite'] c.tflite"


def _own_build(tmp_path, osie_rows, shared_data_dir) -> Path:
    """A build of two OSIE test images whose originals are copies under ``tmp_path`` (a
    refusal that failed would overwrite the copies, never the shared data)."""
    import shutil

    data = tmp_path / "data"
    rows = []
    for stem in TEST_IDS[:2]:
        row = dict(osie_rows[stem], data_dir=str(data))
        (data / row["image_path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared_data_dir / row["image_path"], data / row["image_path"])
        rows.append(row)
    return _write_index(tmp_path / "gt", rows)


def test_cli_refuses_outputs_that_are_inputs_or_each_other(
    tmp_path, osie_rows, shared_data_dir, capsys
):
    """``--out_json gt/index.jsonl --out_md m.keras`` replaced both: now exit 2 before any
    work, every input byte for byte as it was."""
    from conftest import save_centroid_model

    from attention_center.cli.main import main

    build = _own_build(tmp_path, osie_rows, shared_data_dir)
    model = save_centroid_model(tmp_path / "m.keras")
    image = Path(osie_rows[TEST_IDS[0]]["image_path"])
    inputs = [build / "index.jsonl", model, tmp_path / "data" / image]
    before = {path: path.read_bytes() for path in inputs}
    argv = ["attention-center", "evaluate", f"--data={build}", f"--model={model}", "--noprogress"]
    cases = [
        (["--out_json", build / "index.jsonl", "--out_md", model], "--out_md"),
        (["--out_json", build / "index.jsonl"], f"--data {build}: {build / 'index.jsonl'}"),
        (["--out_md", tmp_path / "gt" / ".." / "m.keras"], f"is an input (--model {model})"),
        (["--out_json", tmp_path / "data" / image], f"{tmp_path / 'data' / image}"),
        (["--out_md", tmp_path / "r.json", "--out_json", tmp_path / "r.json"], "the same file"),
    ]
    for extra, words in cases:
        assert main(argv + list(map(str, extra))) == 2, extra
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err, err
    assert {path: path.read_bytes() for path in inputs} == before
    assert not (tmp_path / "r.json").exists()
    # A hard link to the index is the index too.
    os.link(build / "index.jsonl", tmp_path / "linked.json")
    assert main(argv + [f"--out_json={tmp_path / 'linked.json'}"]) == 2
    assert "is an input" in capsys.readouterr().err
    # Different, new paths: written.
    extra = [f"--out_json={tmp_path / 'r.json'}", f"--out_md={tmp_path / 'r.md'}"]
    assert main(argv + extra) == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "r.json").read_text())["settings"]["num_records"] == 2


def test_cli_names_an_index_line_without_a_field(tmp_path, osie_rows, capsys):
    """A row without ``center`` crashed evaluate with ``KeyError: 'center'``."""
    from attention_center.cli.main import main

    rows = [osie_rows[stem] for stem in TEST_IDS[:3]]
    rows[2] = {k: v for k, v in rows[2].items() if k != "center"}
    build = _write_index(tmp_path / "gt", rows)
    assert main(["attention-center", "evaluate", f"--data={build}", "--noprogress"]) == 2
    err = capsys.readouterr().err
    assert f"{build / 'index.jsonl'}:3: not an index row: no 'center' field" in err, err
    assert "Traceback" not in err and "KeyError" not in err


@pytest.mark.parametrize(
    "flag, value",
    [
        ("max_images", "-1"),  # [:-1] silently dropped the last image
        ("max_images", "0"),
        ("batch_size", "0"),
        ("batch_size", "-1"),
        ("density_sigma", "-1"),
        ("density_sigma", "0"),
        ("human_splits", "0"),
    ],
)
def test_cli_numeric_flags_out_of_range_are_usage_errors(gt_dir, flag, value, capsys):
    from attention_center.cli.main import main

    argv = ["attention-center", "evaluate", f"--data={gt_dir}", f"--{flag}={value}"]
    assert main(argv + ["--noprogress"]) == 2
    err = capsys.readouterr().err
    assert f"--{flag}={value}" in err and "Traceback" not in err, err


def test_dataset_mean_never_fitted_on_the_image_it_scores(osie_rows):
    """Scored on its own train split (as the leave-one-dataset-out "(all)" rows do), the
    dataset-mean centre of each train image is the mean of the *other* train images; test
    images get the plain mean. The old in-sample mean scored the train images with their own
    centres inside it."""
    from attention_center.evaluation import baselines

    train = [osie_rows[i] for i in TRAIN_IDS]
    test = [osie_rows[i] for i in TEST_IDS]
    scored = train[:3] + test
    predictions = baselines.dataset_mean_predictions(train, scored)
    fractions = np.asarray([(np.asarray(r["center"]) + 0.5) / [800, 600] for r in train])
    for i in range(3):
        others = np.delete(fractions, i, axis=0).mean(axis=0)
        np.testing.assert_allclose(predictions[i], others * [800, 600] - 0.5, atol=1e-9)
    np.testing.assert_allclose(
        predictions[3:], np.tile(fractions.mean(axis=0) * [800, 600] - 0.5, (5, 1)), atol=1e-9
    )
    # Left out, each train image's baseline is further from its own centre than in-sample.
    in_sample = fractions.mean(axis=0) * [800, 600] - 0.5
    for i, record in enumerate(train[:3]):
        assert _error(predictions[i], record) > _error(in_sample, record)
    assert baselines.images_shared(train, scored) == {r["image_id"] for r in train[:3]}
    # A single-image training set leaves nothing: the image centre.
    np.testing.assert_allclose(
        baselines.dataset_mean_predictions(train[:1], train[:1]), [[399.5, 299.5]], atol=1e-9
    )
