"""The command-line convention of every program: own absl ``FlagValues``, help, exit codes.

Each subcommand of ``attention-center`` (and ``python -m export``, ``python -m
ground_truth``) defines its flags on a private ``flags.FlagValues()`` rather than absl's
global ``FLAGS``, so importing several of them into one process (the dispatcher, tests,
notebooks) cannot clash on a flag name such as ``--model``. It lives in the core (absl
only) so that ``ground_truth``, which may use nothing else, follows it too.

Exit codes, the same for every command (README):

* ``0``: everything asked for was done;
* ``1``: some inputs failed (each reported on stderr, naming the file and the problem);
  the others were processed;
* ``2``: a usage error (bad or missing flag, unknown model, missing folder), found before
  any work starts;
* ``130``: interrupted (Ctrl-C / SIGTERM) after printing the summary so far.

:func:`run_with_flags` makes SIGTERM raise ``KeyboardInterrupt`` like Ctrl-C, so every
command stops the same way on both (children stopped, temporaries removed, summary
printed where the command has one), and keeps TensorFlow's native INFO lines off stderr
(:func:`quiet_native_logs`) whichever way the command was started (``attention-center
train``, ``attention-center train``, ``python -m export``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from absl import flags

__all__ = [
    "EXIT_FAILURES",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "HELP_FLAGS",
    "UsageError",
    "parse_or_exit",
    "quiet_native_logs",
    "run_with_flags",
    "sigterm_interrupts",
]

EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
HELP_FLAGS = ("--help", "-h", "--helpfull", "-help")


class UsageError(Exception):
    """A bad command line (exit status 2, before any work)."""


def parse_or_exit(flag_values: flags.FlagValues, argv: Sequence[str], usage: str) -> list[str]:
    """Parses ``argv`` into ``flag_values``; handles help (exit 0) and bad flags (exit 2).

    Returns:
      the positional arguments, ``argv[0]`` first (absl's convention).
    """
    argv = list(argv)
    if any(arg in HELP_FLAGS for arg in argv[1:]):
        print(f"{usage.rstrip()}\n\nflags:\n{flag_values.get_help()}")
        sys.exit(EXIT_OK)
    try:
        return flag_values(argv)
    except flags.Error as error:
        print(f"{argv[0]}: error: {error}\n(see {argv[0]} --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def quiet_native_logs() -> None:
    """No TensorFlow INFO lines (``cpu_feature_guard``...) or oneDNN notices on stderr.

    Sets ``TF_CPP_MIN_LOG_LEVEL=2`` and ``TF_ENABLE_ONEDNN_OPTS=0`` unless the user set them
    (they act when TensorFlow is first imported, so this runs before any command's work).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def sigterm_interrupts():
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` in the main thread (as Ctrl-C).

    A no-op outside the main thread (only it may set signal handlers).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def run_with_flags(
    flag_values: flags.FlagValues,
    main: Callable[[list[str]], int],
    usage: str,
    argv: Sequence[str] | None = None,
) -> None:
    """Parses ``argv`` (default ``sys.argv``) into ``flag_values``, exits with ``main(rest)``.

    ``--help``/``-h`` print ``usage`` and the flags and exit 0; a bad flag or a
    :class:`UsageError` from ``main`` prints one ``error:`` line and exits 2; Ctrl-C or
    SIGTERM that ``main`` does not handle itself prints ``interrupted`` and exits 130.
    """
    argv = list(sys.argv if argv is None else argv)
    quiet_native_logs()
    flag_values.unparse_flags()
    rest = parse_or_exit(flag_values, argv, usage)
    try:
        with sigterm_interrupts():
            status = main(rest)
    except UsageError as error:
        print(f"{argv[0]}: error: {error}\n(see {argv[0]} --help)", file=sys.stderr)
        status = EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{argv[0]}: interrupted", file=sys.stderr)
        status = EXIT_INTERRUPTED
    sys.exit(status)
