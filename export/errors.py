"""The error types of the exporter: bad input, failed conversion or failed parity
(:class:`ExportError`, exit 1), and a usage error before any work (:class:`ExportUsageError`,
exit 2)."""

from __future__ import annotations


class ExportError(RuntimeError):
    """An export could not be done; the message names the file and the problem.

    The CLI prints the message and exits non-zero; nothing is left at the
    output path (outputs are written to a temporary file and renamed only
    once every check has passed).
    """


class ExportUsageError(ExportError):
    """A usage error found before any work (exit status 2, as for every command).

    A ``--model`` that does not exist, is not a regular file (a FIFO is never opened), is
    not a ``.keras`` model, cannot be loaded or has no ``"center"`` output; an unknown
    preset; a bad flag value; an input image folder that is missing or holds no images; an
    ``--out`` that cannot be written or is the input model.
    """
