"""``python -m ground_truth``: the ground-truth builder (:mod:`ground_truth.cli`)."""

from ground_truth.cli import run

if __name__ == "__main__":
    run()
