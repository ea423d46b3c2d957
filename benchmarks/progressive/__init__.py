"""What people see first: the progressive JPEG XL benchmark (``run.py``), one job per module.

* :mod:`.inputs`: the held-out images and their human centres (one record per image);
* :mod:`.cache`: content-keyed JSON/NumPy cache that makes a run resumable;
* :mod:`.predictions`: the models' centres and weighting maps, cached per model file;
* :mod:`.strategies`: the group-order strategies and their cjxl flags (chosen, oracle);
* :mod:`.measure`: encode once, decode byte prefixes, when the looked-at region is final;
* :mod:`.groups`: each group's section bytes, read from real files (for the oracle);
* :mod:`.report`: summaries, distance shares, tables, the side-by-side line;
* :mod:`.plots`: the figure; :mod:`.docs`: ``docs/progressive.md``;
* ``run.py``: the command line.
"""
