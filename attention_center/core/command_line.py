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
"""

from __future__ import annotations

import sys
from typing import Callable, Sequence

from absl import flags

__all__ = ["EXIT_FAILURES", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "HELP_FLAGS",
           "UsageError", "parse_or_exit", "run_with_flags"]

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


def run_with_flags(flag_values: flags.FlagValues, main: Callable[[list[str]], int],
                   usage: str, argv: Sequence[str] | None = None) -> None:
    """Parses ``argv`` (default ``sys.argv``) into ``flag_values``, exits with ``main(rest)``.

    ``--help``/``-h`` print ``usage`` and the flags and exit 0; a bad flag or a
    :class:`UsageError` from ``main`` prints one ``error:`` line and exits 2.
    """
    argv = list(sys.argv if argv is None else argv)
    flag_values.unparse_flags()
    rest = parse_or_exit(flag_values, argv, usage)
    try:
        status = main(rest)
    except UsageError as error:
        print(f"{argv[0]}: error: {error}\n(see {argv[0]} --help)", file=sys.stderr)
        status = EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{argv[0]}: interrupted", file=sys.stderr)
        status = EXIT_INTERRUPTED
    sys.exit(status)
