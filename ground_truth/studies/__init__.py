"""Studies of the ground truth: the figures behind the builder's defaults and the training table.

* :mod:`ground_truth.studies.measure`: how many leading points and which time window
  (the temporal filter's defaults);
* :mod:`ground_truth.studies.proxies`: how close mouse and click centres come to eye tracking
  (the figures behind :data:`ground_truth.training_use.TRAINING_USE`);
* :mod:`ground_truth.studies.figure`: the filters drawn on real images.
"""
