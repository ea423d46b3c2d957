"""``attention-center beam``: attention centres (and JPEG XL) for millions of images, on Beam.

Usage::

  attention-center beam --input GLOB --output DIR [--encode] [--model NAME_OR_PATH]
      [--skip_existing] [--num_shards N] [Beam pipeline options...] [-- extra cjxl flags]

Matches ``GLOB`` (local, ``gs://``, ``s3://``; ``**`` walks folders), predicts every image's
centre with the model (RunInference, loaded once per worker) and writes ``DIR/centers.jsonl``
(``file, width, height, x, y, model, model_version``; (x, y) 0-based pixel centres of the
image as displayed, as ``attention-center predict`` gives them), ``DIR/errors.jsonl`` (one
``file, stage, message`` row per input that failed: it never stops the job) and, with
``--encode``, ``DIR/jxl/<relative path>.jxl`` encoded centre-first as ``attention-center
encode`` encodes it (the same ``--center_strategy`` and ``--cjxl_defaults``, byte for byte
the same file; ``jxl_center`` in the rows is the centre cjxl got, in stored pixels).
``DIR/records/`` holds each finished image's row: ``--skip_existing`` resumes a killed run
without redoing or duplicating anything. Needs ``pip install "attention-center[beam]"``.

Every flag that is not one of ours is a Beam pipeline option (``--runner``,
``--direct_num_workers``, ``--project``, ``--flink_master``...). Without ``--runner`` the
job runs here on Beam's FnApiRunner (the DirectRunner's engine, without its attempt to
download Prism); ``--direct_num_workers=N --direct_running_mode=multi_processing`` uses N
processes. On Dask (``pip install "attention-center[dask]"``): ``--dask_address
tcp://HOST:PORT`` runs on a running scheduler, ``--dask_workers N`` starts N local worker
processes for the job (either implies ``--runner dask``). See docs/beam.md for Dask,
Dataflow and Flink.

Exit codes: 0 all done, 1 some inputs failed (the first 20 named on stderr, all in
errors.jsonl) or the job failed on the way (a lost Dask scheduler: outputs written so far are
complete, rerun with --skip_existing), 2 usage error (before any work: bad flag, glob matching
nothing, a folder as --input, an unusable local --output, unknown model, no cjxl for
--encode, a --dask_address where no Dask scheduler answers within 10 s).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

from absl import flags

from attention_center.core.beam_options import is_flag
from attention_center.core.command_flags import (
    EXIT_FAILURES,
    EXIT_OK,
    UsageError,
    define_cjxl_choice_flags,
    define_dask_flags,
    output_folder_flag,
)

__all__ = ["FLAGS", "LOCAL_RUNNERS", "USAGE", "main", "pipeline_options", "run", "split_args"]

USAGE = __doc__
FLAGS = flags.FlagValues()
flags.DEFINE_string(
    "input",
    None,
    "Input images: a Beam file pattern (/data/** for every file under /data, /data/**.jpg, "
    "gs://bucket/photos/*; Beam's /data/**/*.jpg leaves out the files directly in /data). "
    "A folder alone is a usage error (exit 2): give DIR/** (every file under it) or DIR/*. "
    "Non-image suffixes, hidden files and the job's own outputs are ignored.",
    flag_values=FLAGS,
)
flags.DEFINE_string(
    "output",
    None,
    "Output folder (local, gs://, s3://); a local one is created and test-written before any "
    "work. Inside the input's folder it is left out of the inputs; the input's folder or above "
    "it (--input /data/photos/** --output /data), only its records/ and jxl/ are.",
    flag_values=FLAGS,
)
flags.DEFINE_bool(
    "encode",
    False,
    "Also write OUT/jxl/<relative>.jxl, centre-first "
    "progressive JPEG XL (cjxl --group_order 1 --center_x X --center_y Y).",
    flag_values=FLAGS,
)
flags.DEFINE_string(
    "model",
    None,
    "Model: a preset name (default, large) or a .tflite / "
    ".keras file, local or remote. Default: the 'default' preset's .tflite.",
    flag_values=FLAGS,
)
flags.DEFINE_integer(
    "batch_size",
    1,
    "Most frames per model call (RunInference batches; > 1 uses BatchElements, "
    "which Beam's DaskRunner does not support).",
    lower_bound=1,
    flag_values=FLAGS,
)
flags.DEFINE_integer(
    "model_threads",
    1,
    "TFLite interpreter threads per worker process "
    "(Beam's parallelism is its workers: one per core).",
    lower_bound=1,
    flag_values=FLAGS,
)
flags.DEFINE_bool(
    "skip_existing",
    False,
    "Leave inputs that an earlier run finished "
    "(OUT/records/<relative>.json from the same model): resume a killed job.",
    flag_values=FLAGS,
)
flags.DEFINE_integer(
    "num_shards",
    1,
    "Number of centres files (1: OUT/centers.jsonl; N: OUT/centers-SSSSS-of-NNNNN.jsonl).",
    lower_bound=1,
    flag_values=FLAGS,
)
flags.DEFINE_integer(
    "max_bytes",
    256 * 1024 * 1024,
    "Larger input files are dead-lettered unread (stage 'read').",
    lower_bound=1,
    flag_values=FLAGS,
)
flags.DEFINE_string(
    "encoder", "cjxl", "cjxl binary, a path or a name on the workers' PATH.", flag_values=FLAGS
)
flags.DEFINE_integer(
    "cjxl_threads",
    1,
    "cjxl --num_threads per image (0: cjxl's default, all cores).",
    lower_bound=0,
    flag_values=FLAGS,
)
flags.DEFINE_string(
    "new_suffix", "jxl", "Suffix of the encoded files (a.jpg -> a.jpg.jxl).", flag_values=FLAGS
)
define_cjxl_choice_flags(FLAGS)
define_dask_flags(FLAGS)

#: Runners that run on this machine (cjxl and the input are checked here first).
LOCAL_RUNNERS = ("FnApiRunner", "DirectRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner")
_HELP = ("help", "h", "helpfull", "helpshort")
#: Failed inputs named on stderr at the end (the rest: errors.jsonl).
SHOWN_FAILURES = 20


def _flag_name(arg: str) -> str:
    return arg.lstrip("-").split("=", 1)[0]


def _ours(name: str):
    """The flag of ours ``name`` refers to (``noencode`` -> ``encode``), or ``None``."""
    if name in FLAGS:
        return FLAGS[name]
    if name.startswith("no") and name[2:] in FLAGS and FLAGS[name[2:]].boolean:
        return FLAGS[name[2:]]
    return None


def split_args(argv: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
    """``[prog, ...]`` -> (our argv, Beam's pipeline options, cjxl flags after ``--``).

    ``--flag value`` pairs stay together (a negative number is a value); positional
    arguments stay with ours (and are refused by :func:`main`).
    """
    argv = list(argv)
    cjxl: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, cjxl = argv[:i], argv[i + 1 :]
    ours, beam = argv[:1], []
    args = argv[1:]
    i = 0
    while i < len(args):
        arg = args[i]
        # a negative number is a value: --dask_workers -1 is refused by its bound
        takes_next = i + 1 < len(args) and "=" not in arg and not is_flag(args[i + 1])
        if not arg.startswith("-") or arg == "-":
            ours.append(arg)
        elif _flag_name(arg) in _HELP or _ours(_flag_name(arg)) is not None:
            flag = _ours(_flag_name(arg))
            ours.append(arg)
            if flag is not None and not flag.boolean and takes_next:
                ours.append(args[i + 1])
                i += 1
        else:
            beam.append(arg)
            if takes_next:
                beam.append(args[i + 1])
                i += 1
        i += 1
    return ours, beam, cjxl


def pipeline_options(beam_args: Sequence[str], dask_address=None, dask_workers=None):
    """``(PipelineOptions, args)`` from the remaining flags, the runner resolved by
    :func:`attention_center.beam.runners.runner_args` (default FnApiRunner; ``dask`` is
    Beam's DaskRunner, whose options are registered first); ``args`` is the resolved list.

    Raises:
      UsageError: Beam is not installed, or a flag is neither ours nor a Beam option
        (:func:`attention_center.core.beam_options.checked_pipeline_options`, shared with
        ``ground-truth beam``).
    """
    from attention_center.core.beam_options import checked_pipeline_options

    beam_args = list(beam_args)
    try:
        from attention_center.beam.runners import runner_args
    except ImportError:
        checked_pipeline_options(beam_args)  # Beam missing: the usage error that says so
        raise
    beam_args = runner_args(beam_args, dask_address, dask_workers)
    return checked_pipeline_options(beam_args, "attention-center beam"), beam_args


def _count_lines(path: str) -> int:
    from attention_center.beam import io as beam_io

    if not beam_io.exists(path):
        return 0
    return sum(1 for line in beam_io.read_bytes(path).splitlines() if line.strip())


def _check_input_outside_outputs(pattern: str, output: str) -> None:
    """Refuses an input glob whose folder lies inside one of the output's own folders
    (``records/``, ``jxl/``): every file there is left out, so the job would do nothing."""
    from attention_center.beam import io as beam_io
    from attention_center.beam.transforms import output_exclusions

    base = beam_io.glob_base(pattern).rstrip("/")
    for folder in output_exclusions(pattern, output):
        if base == folder or base.startswith(folder + "/"):
            raise UsageError(
                f"--input {FLAGS.input}: lies in {folder}, the job's own output under "
                f"--output {FLAGS.output}, whose files are never inputs"
            )


def _print_failures(prog: str, errors_path: str, count: int) -> None:
    """Names the first :data:`SHOWN_FAILURES` failed inputs on stderr, with the problem."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    shown = 0
    try:  # the first lines only: the file may hold millions
        with FileSystems.open(errors_path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            while shown < SHOWN_FAILURES:
                line = f.readline()
                if not line:
                    break
                try:
                    row = json.loads(line)
                    text = f"{row['file']}: {row['stage']}: {row['message']}"
                except (ValueError, KeyError, TypeError):
                    continue
                print(f"{prog}: failed: {text}", file=sys.stderr)
                shown += 1
    except Exception:  # noqa: BLE001 - the line below still points at the file
        pass
    where = f"{count - shown} more" if count > shown else "each"
    print(f"{prog}: {count} input(s) failed; {where} in {errors_path}", file=sys.stderr)


def main(argv: Sequence[str], beam_args: Sequence[str] = (), cjxl_flags: Sequence[str] = ()) -> int:
    """``argv``: ``[prog]`` after flag parsing; ``beam_args``: pipeline options; ``cjxl_flags``."""
    if len(argv) > 1:
        raise UsageError(
            f"beam takes no positional arguments (got {list(argv[1:])}); cjxl flags go after --"
        )
    # first: an unknown flag is named before all else
    options, beam_args = pipeline_options(beam_args, FLAGS.dask_address, FLAGS.dask_workers)
    if not FLAGS.input:
        raise UsageError("beam needs --input GLOB")
    if not FLAGS.output:
        raise UsageError("beam needs --output DIR")

    from apache_beam.io.filesystems import FileSystems

    from attention_center.beam import io as beam_io
    from attention_center.beam import runners
    from attention_center.jxl.encoder import (
        EncoderFlagsError,
        EncoderNotFoundError,
        check_encoder_flags,
        find_encoder,
    )

    pattern, output = beam_io.normalize(FLAGS.input), beam_io.normalize(FLAGS.output)
    FileSystems.set_options(options)
    wildcard = any(c in pattern for c in beam_io.WILDCARDS)
    folder = FLAGS.input.rstrip("/")
    folder_hint = (
        f"did you mean '{folder}/**' (every image under it) or '{folder}/*' (its top level)?"
    )
    if not wildcard and beam_io.is_local(pattern) and os.path.isdir(pattern):
        raise UsageError(f"--input {FLAGS.input}: is a folder, not a file pattern: {folder_hint}")
    try:
        matched = FileSystems.match([pattern], limits=[1])[0].metadata_list
    except Exception as error:  # noqa: BLE001 - unknown scheme, missing credentials...
        raise UsageError(f"--input {FLAGS.input}: cannot list it: {error}") from error
    if not matched:
        hint = "" if wildcard else f" (if it is a folder, {folder_hint})"
        raise UsageError(f"--input {FLAGS.input}: matches no file{hint}")
    _check_input_outside_outputs(pattern, output)
    runner = str(options.get_all_options()["runner"] or "")
    on_dask = runner == runners.DASK_RUNNER
    if on_dask and FLAGS.batch_size > 1:
        raise UsageError(
            "--batch_size > 1 batches with Beam's BatchElements, whose last batch of each "
            "bundle Beam's DaskRunner drops: use --batch_size 1 on Dask"
        )
    if FLAGS.encode and FLAGS.cjxl_defaults:
        from attention_center.jxl.defaults import with_default_flags

        cjxl_flags = with_default_flags(cjxl_flags)
    encoder = FLAGS.encoder
    if FLAGS.encode and (runner in LOCAL_RUNNERS or FLAGS.dask_workers):
        try:
            encoder = find_encoder(FLAGS.encoder)
            check_encoder_flags(encoder, cjxl_flags)  # a bad flag fails here, not per image
        except (EncoderNotFoundError, EncoderFlagsError) as error:
            raise UsageError(str(error)) from error
    address = FLAGS.dask_address or runners.option_value(beam_args, "dask_client_address")
    timeout_s = runners.connect_timeout_s(beam_args) if on_dask else 0.0
    if on_dask and address and FLAGS.dask_workers is None:
        runners.scheduler_threads(address, timeout_s)  # none there: exit 2, nothing created
    if not on_dask:
        return _run(options, pattern, output, encoder, cjxl_flags)
    from apache_beam.options.pipeline_options import PipelineOptions

    with runners.dask_cluster(address, FLAGS.dask_workers, timeout_s) as cluster:
        options = PipelineOptions(runners.dask_pipeline_args(beam_args, cluster))
        return _run(options, pattern, output, encoder, cjxl_flags, cluster)


def _run(options, pattern: str, output: str, encoder: str, cjxl_flags, cluster=None) -> int:
    """Builds and runs the job (on ``cluster`` when given: a
    :class:`~attention_center.beam.runners.DaskCluster`); prints its counters."""
    import apache_beam as beam

    from attention_center.beam import io as beam_io
    from attention_center.beam import runners
    from attention_center.beam.metrics import counters, format_counters, output_counts
    from attention_center.beam.transforms import AttentionCenters
    from attention_center.core.atomic import remove_stale_temporaries
    from attention_center.inference.predictors import ModelLoadError

    prog = "attention-center beam"
    try:
        job = AttentionCenters(
            pattern,
            output,
            list_shards=runners.list_shards(cluster, FLAGS.dask_partitions),
            model=FLAGS.model,
            encode=FLAGS.encode,
            skip_existing=FLAGS.skip_existing,
            batch_size=FLAGS.batch_size,
            model_threads=FLAGS.model_threads,
            max_bytes=FLAGS.max_bytes,
            encoder=encoder,
            cjxl_flags=cjxl_flags,
            cjxl_threads=FLAGS.cjxl_threads or None,
            new_suffix=FLAGS.new_suffix,
            center_strategy=FLAGS.center_strategy,
            num_shards=FLAGS.num_shards,
        )
    except ModelLoadError as error:
        raise UsageError(str(error)) from error
    if beam_io.is_local(output):  # a remote one cannot be probed cheaply: its writes fail alone
        output_folder_flag("output", output)  # a file, read-only...: exit 2 before any work
        remove_stale_temporaries(output)  # what a killed run left
    pipeline = beam.Pipeline(options=options)
    _ = pipeline | "AttentionCenters" >> job
    try:
        result = runners.run_job(pipeline)
    except runners.JobFailed as error:
        print(
            f"{prog}: error: the job failed: {error}. Every output written so far is "
            "complete (atomic); rerun the same command with --skip_existing to do the rest.",
            file=sys.stderr,
        )
        return EXIT_FAILURES
    finally:
        if beam_io.is_local(output):
            remove_stale_temporaries(output)  # what workers killed during the job left
    layout = job.centers.layout
    errors = _count_lines(layout.errors())
    values = counters(result)
    if values is not None:
        print(f"{prog}: counters: {format_counters(values)}")
    else:
        centers = b"".join(beam_io.read_bytes(p) for p in layout.centers() if beam_io.exists(p))
        tally = output_counts(centers, beam_io.read_bytes(layout.errors()))
        print(
            f"{prog}: counters: not reported (Beam's DaskRunner collects no metrics); "
            f"from the output files: {', '.join(f'{k} {v:,}' for k, v in tally.items())}"
        )
    print(
        f"{prog}: centres in {', '.join(layout.centers())}; {errors} failed input(s) in "
        f"{layout.errors()}"
    )
    if errors:
        _print_failures(prog, layout.errors(), errors)
    return EXIT_FAILURES if errors else EXIT_OK


def run(argv: Sequence[str] | None = None) -> None:
    """Parses ``argv`` (``[prog, flags..., "--", cjxl flags...]``); exits with main's status."""
    from attention_center.core.command_flags import run_with_flags

    ours, beam_args, cjxl_flags = split_args(sys.argv if argv is None else argv)
    run_with_flags(FLAGS, lambda rest: main(rest, beam_args, cjxl_flags), USAGE, ours)
