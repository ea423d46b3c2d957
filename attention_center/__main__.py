"""``python -m attention_center``: the ``attention-center`` command (:mod:`attention_center.cli`)."""

from attention_center.cli import run

if __name__ == "__main__":
    run()
