"""The one error type of the exporter: bad input, failed conversion or failed parity."""

from __future__ import annotations


class ExportError(RuntimeError):
    """An export could not be done; the message names the file and the problem.

    The CLI prints the message and exits non-zero; nothing is left at the
    output path (outputs are written to a temporary file and renamed only
    once every check has passed).
    """
