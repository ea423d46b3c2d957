"""The programs: the ``attention-center`` command and its subcommands.

Apart from the library: nothing in the library imports this package. Each subcommand is
one module with its own absl ``FlagValues`` (``FLAGS``), a ``USAGE`` text, ``main(argv) ->
exit code`` and ``run(argv)``; :mod:`~attention_center.cli.main` dispatches to them, and
``export`` and ``ground-truth`` to :mod:`attention_center.cli.export` and
:mod:`attention_center.cli.ground_truth`.
"""
