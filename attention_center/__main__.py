"""``python -m attention_center``: the ``attention-center`` command
(:mod:`attention_center.cli.main`)."""

from attention_center.cli.main import run

if __name__ == "__main__":
    run()
