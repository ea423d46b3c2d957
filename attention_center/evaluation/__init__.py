"""Scoring models against people: baselines (image centre, dataset mean, human split-half)
and the evaluation table (:func:`attention_center.evaluation.evaluate.evaluate`)."""
