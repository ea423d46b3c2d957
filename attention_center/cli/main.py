"""The ``attention-center`` command (also ``python -m attention_center``): one entry, every job.

::

  attention-center predict PATHS...          centres of images (JSON/CSV), overlays
  attention-center encode --image_dir IN ...  centre-first progressive JPEG XL
  attention-center ground-truth build ...     ground truth from eye tracking and clicks
  attention-center train --data GT ...        train a model
  attention-center evaluate --data GT ...     score models against baselines
  attention-center ensemble --model A ...     average trained models into one
  attention-center calibrate --model M ...    choose the head's temperature on a val split
  attention-center export --out F.tflite      the int8 TFLite drop-in for Google's
  attention-center beam --input GLOB ...      centres and JPEG XL at scale (Apache Beam)

``attention-center COMMAND --help`` (or ``-h``) lists a command's flags and exits 0. Exit
codes everywhere: 0 all done, 1 some inputs failed (each reported), 2 usage error (before
any work), 130 interrupted, 141 standard output closed by its reader (``| head``).
``python -m export`` and ``python -m ground_truth`` run the same code as ``export`` and
``ground-truth``.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Sequence

from attention_center.core.command_line import (
    EXIT_OK,
    EXIT_USAGE,
    HELP_FLAGS,
    guarded_stdout,
    quiet_native_logs,
)

__all__ = ["COMMANDS", "main", "run"]

PROG = "attention-center"


@dataclasses.dataclass(frozen=True)
class Command:
    module: str  # has run(argv)
    summary: str


COMMANDS = {
    "predict": Command("attention_center.cli.predict", "centres of images (JSON/CSV), overlays"),
    "encode": Command("attention_center.cli.encode", "centre-first progressive JPEG XL"),
    "ground-truth": Command(
        "attention_center.cli.ground_truth", "ground truth from eye tracking, mouse, clicks"
    ),
    "train": Command("attention_center.cli.train", "train an attention-centre model"),
    "evaluate": Command("attention_center.cli.evaluate", "score models against baselines"),
    "ensemble": Command("attention_center.cli.ensemble", "average trained models into one"),
    "calibrate": Command(
        "attention_center.cli.calibrate", "choose the head's temperature on a validation split"
    ),
    "export": Command(
        "attention_center.cli.export", "the quantized TFLite drop-in for Google's model"
    ),
    "beam": Command("attention_center.cli.beam", "centres and JPEG XL at scale, on Apache Beam"),
    "compare": Command(
        "attention_center.cli.compare", "one image at equal byte budgets, side by side"
    ),
}


def _overview() -> str:
    from attention_center import __version__

    width = max(map(len, COMMANDS))
    lines = [f"usage: {PROG} COMMAND [flags]   ({PROG} {__version__})", "", "commands:"]
    lines += [f"  {name:<{width}}  {command.summary}" for name, command in COMMANDS.items()]
    lines += [
        "",
        f"{PROG} COMMAND --help shows a command's flags.",
        "Exit codes: 0 all done, 1 some inputs failed (each reported), 2 usage error, "
        "130 interrupted, 141 output pipe closed.",
    ]
    return "\n".join(lines)


def quiet_tensorflow() -> None:
    """No TensorFlow INFO logs or oneDNN notices on our commands' stderr."""
    quiet_native_logs()


def run(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: dispatches ``argv[1]`` to its command; exits with its status."""
    argv = list(sys.argv if argv is None else argv)
    quiet_tensorflow()
    if len(argv) < 2:
        print(f"{PROG}: error: no command given\n{_overview()}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    if argv[1] in HELP_FLAGS or argv[1] == "--version":
        with guarded_stdout(PROG):  # | head, > /dev/full: no traceback
            if argv[1] == "--version":
                from attention_center import __version__

                print(f"{PROG} {__version__}")
            else:
                print(_overview())
        sys.exit(EXIT_OK)
    name = argv[1]
    if name not in COMMANDS:
        print(
            f"{PROG}: error: unknown command {name!r}; commands: {', '.join(COMMANDS)}\n"
            f"(see {PROG} --help)",
            file=sys.stderr,
        )
        sys.exit(EXIT_USAGE)
    module = importlib.import_module(COMMANDS[name].module)
    module.run([f"{PROG} {name}", *argv[2:]])


def main(argv: Sequence[str]) -> int:
    """Runs ``argv`` (``[prog, command, ...]``) and returns its exit status (for tests,
    embedding)."""
    try:
        run(argv)
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_USAGE)
    return EXIT_OK


if __name__ == "__main__":
    run()
