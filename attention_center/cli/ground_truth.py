"""``attention-center ground-truth`` / ``python -m ground_truth``: build and study the ground truth.

Usage::

  attention-center ground-truth build --source osie_eye,scene_eye --data_dir ../shared/data \\
      --out DIR [--seed 0] [--tfrecords]
  attention-center ground-truth measure --source osie_eye --counts 1,3,all --onsets_ms 1000,none
  attention-center ground-truth figure --out docs/img/ground_truth_filters.png
  attention-center ground-truth proxies --data_dir ../shared/data [--proxy_counts 1,3,5,all] [--out
  DIR]
  attention-center ground-truth tfds --source osie_eye,scene_eye --data_dir ../shared/data \\
      --out DIR [--max_images_per_split N] [--seed 0]
  attention-center ground-truth beam --source salicon_mouse,osie_mouse_amt \\
      --data_dir ../shared/data --out DIR [Beam pipeline options]

``build`` writes the portable form (``index.jsonl``, ``frames/``, ``stats.json``,
``stats.md``; see :mod:`attention_center.core.ground_truth_index`); TensorFlow is imported
only for ``--tfrecords``. ``measure`` prints the table behind the temporal defaults
(:mod:`ground_truth.studies.measure`); ``figure`` draws the filters
(:mod:`ground_truth.studies.figure`);
``proxies`` measures how far mouse and click centres lie from the eye centre of the same
images (:mod:`ground_truth.studies.proxies`, ``docs/proxies.md``; with ``--out``: ``proxies.json``,
``proxies.md`` there).
``beam`` runs the same build on Apache Beam (:mod:`ground_truth.build.beam`; every flag
that is not one of its own is a Beam pipeline option; ``--dask_address tcp://HOST:PORT`` or
``--dask_workers N`` run it on Dask; see docs/beam.md).
``tfds`` prepares the TensorFlow Datasets form, one config per source
(:mod:`ground_truth.build.tfds_dataset`, offline, ``--data_dir`` as the manual directory) under
``DIR/attention_center_ground_truth/<config>/<version>/`` with the dataset card beside it
(``README.md``); train or evaluate on it with ``--data tfds:DIR``.
Exit codes: 0 done, 1 something was reported as an error (each named), 2 usage error.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from absl import flags

from attention_center.core.command_flags import define_dask_flags
from attention_center.core.command_line import (
    EXIT_FAILURES,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    HELP_FLAGS,
    UsageError,
    guarded_stdout,
    run_with_flags,
    sigterm_interrupts,
)

FLAGS = flags.FlagValues()
flags.DEFINE_list(
    "source",
    ["osie_eye", "scene_eye", "osie_mouse_lab", "osie_mouse_amt", "salicon_mouse"],
    "Sources to read (comma separated).",
    flag_values=FLAGS,
)
flags.DEFINE_string("data_dir", "../shared/data", "Folder holding the datasets.", flag_values=FLAGS)
flags.DEFINE_string("out", None, "Output folder.", flag_values=FLAGS)
flags.DEFINE_integer("seed", 0, "Split seed.", flag_values=FLAGS)
flags.DEFINE_list("frame_hw", ["480", "640"], "Frame height,width.", flag_values=FLAGS)
flags.DEFINE_bool("reuse_frames", False, "Keep frames already in OUT/frames.", flag_values=FLAGS)
flags.DEFINE_bool("progress", True, "Show progress bars.", flag_values=FLAGS)
flags.DEFINE_bool(
    "tfrecords", False, "Also write sharded TFRecords to OUT/tfrecords.", flag_values=FLAGS
)
flags.DEFINE_integer("records_per_shard", 256, "Records per TFRecord file.", flag_values=FLAGS)
flags.DEFINE_integer(
    "max_images_per_split",
    0,
    "tfds: keep the first N images of each split "
    "(a small config named <source>_firstN, for tests and smoke runs); 0: all.",
    flag_values=FLAGS,
)
flags.DEFINE_list(
    "counts",
    ["1", "2", "3", "4", "5", "7", "10", "all"],
    "measure: values of k (max_count).",
    flag_values=FLAGS,
)
flags.DEFINE_list(
    "onsets_ms",
    ["500", "1000", "1500", "2000", "3000", "none"],
    "measure: values of T (max_onset_ms); mouse sources use none only.",
    flag_values=FLAGS,
)
flags.DEFINE_integer(
    "max_points", 201, "measure: leading points per observer considered.", flag_values=FLAGS
)
flags.DEFINE_list(
    "proxy_counts",
    ["1", "2", "3", "5", "10", "30", "all"],
    "proxies: values of k (points per observer) for the proxies.",
    flag_values=FLAGS,
)
flags.DEFINE_list(
    "proxy_sets",
    ["fiwi", "osie", "salicon"],
    "proxies: image sets to compare (ground_truth.studies.proxies.COMPARISONS).",
    flag_values=FLAGS,
)
flags.DEFINE_bool(
    "reliability",
    True,
    "proxies: also the split-half table of every BubbleView source.",
    flag_values=FLAGS,
)
flags.DEFINE_integer("num_splits", 10, "proxies: random split-halves per image.", flag_values=FLAGS)
flags.DEFINE_bool(
    "pace", True, "proxies: also time the clicks (reads the click files again).", flag_values=FLAGS
)

COMMANDS = ("build", "measure", "figure", "proxies", "tfds", "beam")
USAGE = __doc__


def _values(items, cast):
    return [None if v.lower() in ("all", "none") else cast(v) for v in items]


def _check_build_sources(sources: Sequence[str], data_dir: str) -> None:
    """Raises :class:`UsageError` (exit 2, before any work) for an unknown ``--source``, or a
    ``--data_dir`` that is not a folder when a dataset source needs it (a missing generic
    CSV/JSONL file is a failed input instead: exit 1, the other sources built)."""
    import os

    from attention_center.core.files import not_a_file_reason
    from ground_truth.readers import ALIASES, SOURCES, is_generic

    names = [ALIASES.get(name, name) for name in sources]
    unknown = [name for name in names if name not in SOURCES and not is_generic(name)]
    if unknown:
        raise UsageError(
            f"--source: unknown {unknown}; known: {sorted(SOURCES)}, or a .csv/.jsonl file"
        )
    needing = [name for name in names if name in SOURCES]
    if needing and not os.path.isdir(data_dir):
        reason = not_a_file_reason(data_dir)
        reason = "no such folder" if reason == "no such file" else reason or "not a folder"
        raise UsageError(f"--data_dir {data_dir}: {reason} (where {', '.join(needing)} are read)")


def _check_build_flags(flag_values, tfrecords: bool = False) -> tuple[int, int]:
    """The usage checks of ``build`` and ``beam``, before any work or output; returns
    ``--frame_hw`` as ``(H, W)``.

    In order: ``--out`` given, ``--frame_hw`` two positive integers, ``--source`` and
    ``--data_dir`` (:func:`_check_build_sources`), no output over an input
    (:func:`ground_truth.build.output_clashes`: ``OUT/index.jsonl``, ``OUT/stats.*``,
    ``OUT/frames/``, ``OUT/tfrecords/`` with ``--tfrecords``), and last ``--out`` usable as
    the output folder (created when missing: nothing else is written on a usage error).

    Raises:
      UsageError: the first problem found (exit 2).
    """
    from attention_center.core.command_flags import output_folder_flag
    from ground_truth.build.builder import check_frame_hw, output_clashes

    if not flag_values.out:
        raise UsageError("--out is required")
    try:
        frame_hw = check_frame_hw(flag_values.frame_hw)
    except ValueError:
        raise UsageError(
            f"--frame_hw {','.join(flag_values.frame_hw)}: expected HEIGHT,WIDTH, two positive "
            "whole numbers of pixels (e.g. 480,640)"
        ) from None
    _check_build_sources(flag_values.source, flag_values.data_dir)
    clashes = output_clashes(flag_values.source, flag_values.data_dir, flag_values.out, tfrecords)
    if clashes:
        raise UsageError("; ".join(clashes))
    output_folder_flag("out", flag_values.out)  # "--out PATH: exists and is not a folder"
    return frame_hw


def _measure() -> int:
    """``measure``: one table per ``--source``; 1 when a source could not be (fully) read
    (each problem named, the other sources measured), 2 for a usage error."""
    from ground_truth.readers import read_source
    from ground_truth.studies.measure import measure_temporal, temporal_table_markdown

    _check_build_sources(FLAGS.source, FLAGS.data_dir)
    try:
        counts = _values(FLAGS.counts, int)
    except ValueError:
        raise UsageError(
            f"--counts {','.join(FLAGS.counts)}: expected whole numbers or all"
        ) from None
    try:
        onsets = _values(FLAGS.onsets_ms, float)
    except ValueError:
        raise UsageError(
            f"--onsets_ms {','.join(FLAGS.onsets_ms)}: expected numbers (ms) or none"
        ) from None
    failed = 0
    for name in FLAGS.source:
        try:
            read = read_source(name, FLAGS.data_dir)
        except Exception as error:  # RecordError, or a bug in a reader: named, the rest go on
            text = str(error)
            print(
                f"ERROR: {text if text.startswith(f'{name}: ') else f'{name}: {text}'}",
                file=sys.stderr,
            )
            failed += 1
            continue
        for message in read.errors:  # each one image, file or observer; the rest measured
            print(f"ERROR: {name}: {message}", file=sys.stderr)
        failed += bool(read.errors)
        if not read.records:
            dropped = ", ".join(f"{k} {v}" for k, v in sorted(read.drops.items()) if v)
            print(
                f"ERROR: {name}: no records to measure"
                + (f" (dropped: {dropped})" if dropped else ""),
                file=sys.stderr,
            )
            failed += 1
            continue
        rows = measure_temporal(
            read.records,
            counts,
            onsets if read.records[0].modality == "eye" else [None],
            seed=FLAGS.seed,
            max_points=FLAGS.max_points,
        )
        print(temporal_table_markdown(name, rows))
    return EXIT_FAILURES if failed else EXIT_OK


def main(argv: Sequence[str]) -> int:
    if len(argv) < 2 or argv[1] not in COMMANDS:
        got = f" (got {argv[1]!r})" if len(argv) > 1 else ""
        print(
            f"{argv[0]}: error: expected one of {', '.join(COMMANDS)}{got}\n(see {argv[0]} --help)",
            file=sys.stderr,
        )
        return 2
    if len(argv) > 2:
        print(f"{argv[0]}: error: unexpected arguments {list(argv[2:])}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO)
    command = argv[1]
    if command == "build":
        from ground_truth.build import build

        frame_hw = _check_build_flags(FLAGS, tfrecords=FLAGS.tfrecords)
        report = build(
            FLAGS.source,
            FLAGS.data_dir,
            FLAGS.out,
            seed=FLAGS.seed,
            frame_hw=frame_hw,
            reuse_frames=FLAGS.reuse_frames,
            progress=FLAGS.progress,
            tfrecords=FLAGS.tfrecords,
            records_per_shard=FLAGS.records_per_shard,
        )
        from ground_truth.build import stats_markdown

        print(stats_markdown(report.stats))
        for error in report.errors:
            print(f"ERROR: {error}", file=sys.stderr)
        return 0 if report.ok else 1
    if command == "measure":
        return _measure()
    if command == "figure":
        from ground_truth.studies.figure import filters_figure

        print(filters_figure(FLAGS.data_dir, FLAGS.out or "docs/img/ground_truth_filters.png"))
        return 0
    if command == "proxies":
        return _proxies()
    if command == "tfds":
        return _tfds()
    return 2


def _proxies() -> int:
    """``proxies``: prints the tables (and writes them under ``--out`` when given)."""
    import json
    from pathlib import Path

    from attention_center.core.atomic import atomic_write_text
    from ground_truth.studies.proxies import COMPARISONS, measure_proxies, proxies_markdown

    known = {c.name: c for c in COMPARISONS}
    unknown = [name for name in FLAGS.proxy_sets if name not in known]
    if unknown:
        print(f"--proxy_sets: unknown {unknown}; known: {sorted(known)}", file=sys.stderr)
        return 2
    report = measure_proxies(
        FLAGS.data_dir,
        [known[name] for name in FLAGS.proxy_sets],
        counts=_values(FLAGS.proxy_counts, int),
        num_splits=FLAGS.num_splits,
        seed=FLAGS.seed,
        pace=FLAGS.pace,
        reliability_sources=None if FLAGS.reliability else (),
    )
    text = proxies_markdown(report)
    print(text)
    for error in report["errors"]:
        print(f"ERROR: {error}", file=sys.stderr)
    if FLAGS.out:
        out = Path(FLAGS.out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "proxies.json", json.dumps(report, indent=1, default=str) + "\n")
        atomic_write_text(out / "proxies.md", text)
    return 1 if report["errors"] else 0


def _tfds() -> int:
    """``tfds``: prepares one TFDS config per ``--source``; 1 if one failed (the rest are kept).

    Usage errors, before any work or output (exit 2): no ``--out``, a ``--data_dir`` that is
    not a folder, an unknown ``--source``, two sources that would be one config, a config
    under ``--out`` prepared from another source, an ``--out`` that is not a usable folder.
    """
    from pathlib import Path

    if not FLAGS.out:
        print("--out is required (the TFDS data directory)", file=sys.stderr)
        return 2
    if not Path(FLAGS.data_dir).is_dir():
        print(
            f"--data_dir {FLAGS.data_dir}: no such folder (the manual directory)", file=sys.stderr
        )
        return 2
    if not FLAGS.source:
        raise UsageError("--source: give at least one source")
    _check_build_sources(FLAGS.source, FLAGS.data_dir)  # an unknown name: exit 2, as build
    from attention_center.core.atomic import atomic_write_text
    from attention_center.core.command_flags import output_folder_flag
    from ground_truth.build import tfds_card
    from ground_truth.build.tfds_dataset import plan_configs, prepare

    try:
        configs = plan_configs(
            FLAGS.source, FLAGS.data_dir, FLAGS.out, FLAGS.max_images_per_split, FLAGS.seed
        )
    except ValueError as error:
        raise UsageError(f"--source: {error}") from error
    out = Path(FLAGS.out)
    created = []  # --out and its ancestors that this run makes: removed if left empty
    while not os.path.lexists(out) and out != out.parent:
        created.append(out)
        out = out.parent
    output_folder_flag("out", FLAGS.out)  # "--out PATH: exists and is not a folder", ...
    failed = 0
    for config in configs:
        try:
            (directory,) = prepare(
                [config.source],
                FLAGS.data_dir,
                FLAGS.out,
                seed=FLAGS.seed,
                max_images_per_split=FLAGS.max_images_per_split,
                progress=FLAGS.progress,
            )
        except Exception as error:  # a reader's RecordError, a bad image, TFDS: name it, go on
            text = str(error)
            named = text.startswith(config.source)
            print(f"ERROR: {text if named else f'{config.source}: {text}'}", file=sys.stderr)
            failed += 1
            continue
        atomic_write_text(directory / "README.md", tfds_card.card_markdown([config.source]))
        print(directory)
    if failed < len(configs):
        print(f"read with: --data tfds:{FLAGS.out}")
    else:
        for folder in created:  # nothing prepared: leave no empty --out behind
            try:
                folder.rmdir()
            except OSError:
                break
    return 1 if failed else 0


BEAM_FLAGS = flags.FlagValues()
flags.DEFINE_list(
    "source",
    ["osie_mouse_amt", "salicon_mouse"],
    "Sources (comma separated).",
    flag_values=BEAM_FLAGS,
)
flags.DEFINE_string(
    "data_dir", "../shared/data", "Folder holding the datasets.", flag_values=BEAM_FLAGS
)
flags.DEFINE_string("out", None, "Output folder.", flag_values=BEAM_FLAGS)
flags.DEFINE_integer("seed", 0, "Split seed.", flag_values=BEAM_FLAGS)
flags.DEFINE_list("frame_hw", ["480", "640"], "Frame height,width.", flag_values=BEAM_FLAGS)
flags.DEFINE_bool(
    "reuse_frames", False, "Keep frames already in OUT/frames.", flag_values=BEAM_FLAGS
)
define_dask_flags(BEAM_FLAGS, partitions=False)  # one Dask task per read unit


def beam_main(argv: Sequence[str], beam_args: Sequence[str] = ()) -> int:
    """``ground-truth beam``: the build on Beam; 0, or 1 when anything was reported as an error."""
    import contextlib
    import json
    from pathlib import Path

    from attention_center.beam import runners
    from attention_center.core.beam_options import checked_pipeline_options

    # First, as `attention-center beam` does: a flag that is neither ours nor a Beam pipeline
    # option (a typo such as --sorce would otherwise build the default sources) is exit 2.
    # FnApiRunner unless named (no Prism download); dask: Beam's DaskRunner, options registered
    beam_args = runners.runner_args(beam_args, BEAM_FLAGS.dask_address, BEAM_FLAGS.dask_workers)
    checked_pipeline_options(beam_args, "attention-center ground-truth beam")
    # The same usage checks as build, before any work or output (exit 2).
    frame_hw = _check_build_flags(BEAM_FLAGS)

    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from ground_truth.build.beam import BuildGroundTruth

    transform = BuildGroundTruth(
        BEAM_FLAGS.source,
        BEAM_FLAGS.data_dir,
        BEAM_FLAGS.out,
        seed=BEAM_FLAGS.seed,
        frame_hw=frame_hw,
        reuse_frames=BEAM_FLAGS.reuse_frames,
    )
    stats_path = Path(BEAM_FLAGS.out) / "stats.json"
    with contextlib.ExitStack() as stack:
        if runners.is_dask(beam_args):
            cluster = stack.enter_context(
                runners.dask_cluster(
                    BEAM_FLAGS.dask_address
                    or runners.option_value(beam_args, "dask_client_address"),
                    BEAM_FLAGS.dask_workers,
                    runners.connect_timeout_s(beam_args),
                )
            )
            beam_args = runners.dask_pipeline_args(beam_args, cluster)
        pipeline = beam.Pipeline(options=PipelineOptions(beam_args))
        _ = pipeline | "BuildGroundTruth" >> transform
        try:
            runners.run_job(pipeline)
        except runners.JobFailed as error:
            print(f"{argv[0]}: error: the job failed: {error}", file=sys.stderr)
            return EXIT_FAILURES
    stats = json.loads(stats_path.read_text(encoding="utf-8"))
    print(json.dumps({k: stats[k] for k in ("total_records", "total_images", "sources")}, indent=1))
    for error in stats["errors"]:
        print(f"ERROR: {error}", file=sys.stderr)
    return 1 if stats["errors"] else 0


def run_beam(argv: Sequence[str]) -> None:
    """``ground-truth beam [flags] [Beam pipeline options]``: our flags are parsed by absl,
    every other flag is a Beam pipeline option; exits with :func:`beam_main`'s status."""
    BEAM_FLAGS.unparse_flags()
    with guarded_stdout(argv[0]):  # a closed pipe or a full disk: no traceback
        if any(arg in HELP_FLAGS for arg in argv[1:]):
            from ground_truth.build import beam as beam_build

            print(f"{beam_build.__doc__.rstrip()}\n\nflags:\n{BEAM_FLAGS.get_help()}")
            sys.exit(EXIT_OK)
        try:
            rest = BEAM_FLAGS(list(argv), known_only=True)
        except flags.Error as error:
            print(f"{argv[0]}: error: {error}", file=sys.stderr)
            sys.exit(EXIT_USAGE)
        try:
            with sigterm_interrupts():
                status = beam_main(rest[:1], rest[1:])  # whatever is not ours goes to Beam
        except UsageError as error:
            print(f"{argv[0]}: error: {error}", file=sys.stderr)
            status = EXIT_USAGE
        except KeyboardInterrupt:
            print(f"{argv[0]}: interrupted", file=sys.stderr)
            status = EXIT_INTERRUPTED
    sys.exit(status)


def run(argv: Sequence[str] | None = None) -> None:
    """Parses ``argv`` (``[prog, command, flags...]``) and exits with :func:`main`'s status.

    The core's command-line convention (absl only: no Keras, no TensorFlow): ``--help``/``-h``
    exit 0, a bad flag exits 2. ``beam`` takes Beam's pipeline options beside its flags.
    """
    argv = list(sys.argv if argv is None else argv)
    if len(argv) > 1 and argv[1] == "beam":
        run_beam([f"{argv[0]} beam", *argv[2:]])
    run_with_flags(FLAGS, main, USAGE, argv)


if __name__ == "__main__":
    run()
