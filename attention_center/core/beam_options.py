"""Beam pipeline options, checked: what the Beam commands share.

``attention-center beam`` and ``attention-center ground-truth beam`` pass every flag that is
not one of their own to Apache Beam as a pipeline option. Beam itself only warns about a
flag it does not know and goes on, so a misspelt flag (``--sorce``) would run the job with
the defaults; :func:`checked_pipeline_options` refuses it instead (a
:class:`~attention_center.core.command_line.UsageError`: exit 2, before any work), naming it.

Apache Beam is imported inside the function, so importing this module loads nothing
beyond the core.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from attention_center.core.command_line import UsageError

__all__ = ["BEAM_INSTALL", "checked_pipeline_options", "is_flag", "stray_arguments"]

#: How to install Beam for the commands that need it.
BEAM_INSTALL = 'pip install "attention-center[beam]"'

#: A negative number (``-1``, ``-.5``, ``-2e3``): a flag's value, not a flag.
_NEGATIVE_NUMBER = re.compile(r"-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _flag_name(arg: str) -> str:
    return arg.lstrip("-").split("=", 1)[0]


def is_flag(arg: str) -> bool:
    """Whether a command-line argument is a flag (``--name``, ``-x``), not a value: ``-`` and
    negative numbers (``--dask_workers -1``) are values."""
    return arg.startswith("-") and arg != "-" and not _NEGATIVE_NUMBER.fullmatch(arg)


def stray_arguments(args: Sequence[str]) -> list[str]:
    """The arguments of ``args`` that are neither a flag nor a flag's value.

    A value is the argument right after a ``--flag`` written without ``=`` (``--runner
    DataflowRunner``); anything else that does not start with ``-`` is stray (Beam would
    drop it without a word).
    """
    args = list(args)
    stray, i = [], 0
    while i < len(args):
        arg = args[i]
        if is_flag(arg):
            if "=" not in arg and i + 1 < len(args) and not is_flag(args[i + 1]):
                i += 1  # its value
        else:
            stray.append(arg)
        i += 1
    return stray


def checked_pipeline_options(beam_args: Sequence[str], command: str = "attention-center beam"):
    """``PipelineOptions(beam_args)``, refusing anything Beam would silently ignore.

    Args:
      beam_args: the command's arguments that are not its own flags, the runner already
        resolved (:func:`attention_center.beam.runners.runner_args`, which also registers
        the Dask runner's options when it is asked for).
      command: the command, for the message when Beam is not installed.
    Returns:
      the ``apache_beam.options.pipeline_options.PipelineOptions``.
    Raises:
      UsageError: Apache Beam is not installed (the flags given are named); an argument
        that is neither a flag nor a flag's value; a single-dash flag (Beam drops those);
        a flag that is neither the command's nor a Beam pipeline option.
    """
    beam_args = [str(arg) for arg in beam_args]
    try:
        from apache_beam.options.pipeline_options import PipelineOptions
    except ImportError:
        names = ", ".join(f"--{_flag_name(a)}" for a in beam_args if is_flag(a))
        unknown = f"unknown flag(s) {names}; " if names else ""
        raise UsageError(f"{unknown}{command} needs Apache Beam: {BEAM_INSTALL}") from None
    stray = stray_arguments(beam_args)
    if stray:
        raise UsageError(
            f"unexpected argument(s) {stray}: {command} takes flags only (--name value)"
        )
    single_dash = [a for a in beam_args if is_flag(a) and not a.startswith("--")]
    options = PipelineOptions(beam_args)
    known = PipelineOptions([]).get_all_options()
    unknown = [f"--{n}" for n in options.get_all_options(retain_unknown_options=True)]
    unknown = [n for n in unknown if n[2:] not in known]
    unknown += [a.split("=", 1)[0] for a in single_dash if f"--{_flag_name(a)}" not in unknown]
    if unknown:
        raise UsageError(
            f"unknown flag(s) {', '.join(dict.fromkeys(unknown))}: neither ours nor a Beam "
            "pipeline option (see --help)"
        )
    return options
