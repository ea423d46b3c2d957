"""Running an entry point whose absl flags live in its own ``FlagValues``.

Library modules that are also commands (``attention_center.evaluate``,
``attention_center.ensemble``) define their flags on a private
``flags.FlagValues()`` rather than absl's global ``FLAGS``, so that importing
several of them into one process (tests, notebooks, benchmarks) cannot clash
on a flag name such as ``--model``.
"""

from __future__ import annotations

import sys
from typing import Callable, Sequence

from absl import flags


def run_with_flags(flag_values: flags.FlagValues, main: Callable[[list[str]], int],
                   usage: str, argv: Sequence[str] | None = None) -> None:
    """Parses ``argv`` (default ``sys.argv``) into ``flag_values``, exits with ``main(rest)``.

    ``--help``/``-h``/``--helpfull`` print ``usage`` and the flags and exit 0; a
    bad flag prints one ``error:`` line and exits 2.
    """
    argv = list(sys.argv if argv is None else argv)
    if any(arg in ("--help", "-h", "--helpfull") for arg in argv[1:]):
        print(f"{usage}\n\n{flag_values.get_help()}")
        sys.exit(0)
    try:
        rest = flag_values(argv)
    except flags.Error as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(rest))
