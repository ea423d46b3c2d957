"""Flags the programs share (`attention-center` subcommands, `python -m export`), on top of
:mod:`attention_center.core.command_line`: absl only, so any program may define them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from absl import flags

from attention_center.core.command_line import (
    EXIT_FAILURES,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    HELP_FLAGS,
    UsageError,
    parse_or_exit,
    run_with_flags,
)
from attention_center.core.files import OutputFolderError, check_output_folder
from attention_center.core.images import DEFAULT_MAX_PIXELS

__all__ = [
    "EXIT_FAILURES",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "HELP_FLAGS",
    "UsageError",
    "define_dask_flags",
    "define_model_flags",
    "max_pixels_flag",
    "output_file_flag",
    "output_folder_flag",
    "parse_or_exit",
    "run_with_flags",
    "split_encoder_flags",
]


def define_model_flags(flag_values: flags.FlagValues) -> None:
    """``--model``, ``--batch_size``, ``--model_threads``, ``--max_pixels``: how a command
    loads its model and its images."""
    flags.DEFINE_string(
        "model",
        None,
        "Model: a preset name (default, large; "
        "'default:keras' for its Keras file) or a .tflite / .keras file "
        "(Google's center.tflite works). Default: the 'default' preset's "
        ".tflite.",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "batch_size",
        8,
        "Images run through a Keras model together (a .tflite model runs each image as "
        "soon as it is decoded).",
        lower_bound=1,
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "model_threads",
        None,
        "TFLite interpreter threads (default: all CPUs).",
        lower_bound=1,
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "max_pixels",
        DEFAULT_MAX_PIXELS,
        "Refuse images with more pixels "
        "(checked before decoding; large JPEGs are decoded at the reduced size "
        "the model needs). 0: no limit.",
        lower_bound=0,
        flag_values=flag_values,
    )


def define_dask_flags(flag_values: flags.FlagValues, partitions: bool = True) -> None:
    """``--dask_address``, ``--dask_workers`` (and, with ``partitions``,
    ``--dask_partitions``): the Beam commands' Dask cluster (either of the first two implies
    ``--runner dask``; :mod:`attention_center.beam.runners` acts on them)."""
    flags.DEFINE_string(
        "dask_address",
        None,
        "Run on this running Dask scheduler (tcp://HOST:PORT); implies --runner dask.",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "dask_workers",
        None,
        "Start a Dask cluster of N worker processes here (127.0.0.1, one thread each) "
        "for the job, closed after it; implies --runner dask.",
        lower_bound=1,
        flag_values=flag_values,
    )
    if not partitions:
        return
    flags.DEFINE_integer(
        "dask_partitions",
        0,
        "Dask: pieces the input listing is split into, each one task (the Dask runner "
        "does not redistribute files after matching); 0: 4 per worker thread.",
        lower_bound=0,
        flag_values=flag_values,
    )


def define_cjxl_choice_flags(flag_values: flags.FlagValues) -> None:
    """``--center_strategy`` and ``--cjxl_defaults``: which centre and which default flags
    cjxl gets, the same for ``attention-center encode`` and ``attention-center beam
    --encode`` (values: :data:`attention_center.jxl.center_choice.CENTER_STRATEGIES`)."""
    flags.DEFINE_enum(
        "center_strategy",
        "chosen",
        ["model", "chosen"],
        "chosen: the centre-first group order (a group and a quarter of it) that makes the "
        "region around the predicted centre final soonest, passed as the point of that quarter "
        "nearest to the predicted centre (attention_center.jxl.center_choice; linear in "
        "pixels); model: the predicted centre as it is. The default won on the validation "
        "split by the human-weighted quality over bytes (docs/BENCHMARKS.md, section 3b).",
        flag_values=flag_values,
    )
    flags.DEFINE_bool(
        "cjxl_defaults",
        True,
        "Add attention_center.jxl.defaults.DEFAULT_CJXL_FLAGS "
        "(--progressive_dc=1: a preview after ~2% of the file) before the flags "
        "after --; a flag given there replaces its default.",
        flag_values=flag_values,
    )


def output_folder_flag(name: str, value) -> Path:
    """An output folder flag's value, created and probed (a real write), or a
    :class:`UsageError` naming the flag, the folder and the problem (before any work)."""
    try:
        return check_output_folder(value)
    except OutputFolderError as error:
        raise UsageError(f"--{name} {error}") from error


def output_file_flag(name: str, value) -> Path:
    """An output file flag's value whose folder can be written (see
    :func:`output_folder_flag`) and which is not itself a folder."""
    path = Path(value)
    if path.is_dir():
        raise UsageError(f"--{name} {path}: is a folder; a file path is needed")
    try:
        check_output_folder(path.parent)
    except OutputFolderError as error:
        raise UsageError(f"--{name} {path}: its folder {error}") from error
    return path


def max_pixels_flag(flag_values: flags.FlagValues):
    """``--max_pixels`` as the API takes it (``None`` for no limit)."""
    return flag_values.max_pixels or None


def split_encoder_flags(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``[prog, ..., "--", cjxl flags...]`` -> (our part, the part after the first ``--``)."""
    argv = list(argv)
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    return argv, []
