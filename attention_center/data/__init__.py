"""Ground truth for training and evaluation: a portable build or a prepared TFDS dataset.

:func:`attention_center.data.selection.select` is what the trainer and the evaluator call:
``data`` is a build directory (``index.jsonl`` + ``frames/``) or ``tfds:...`` (a dataset
prepared by ``attention-center ground-truth tfds``; :mod:`attention_center.data.tfds_input`),
and either way they get the same index rows and the same frames. Nothing here imports
``ground_truth`` (docs/ARCHITECTURE.md): the TFDS form is read from its files.

:mod:`attention_center.data.download` fetches the public datasets the readers read (OSIE,
Scene, the SALICON examples, BubbleView) from their authors' repositories, file by file,
each checked against the SHA-256 of the project's copy (``manifests/``).
"""
