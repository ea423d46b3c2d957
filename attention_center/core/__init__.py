"""The Keras-free core of attention-center: what every other part stands on.

Only numpy, Pillow and scipy (and, for reading ``.tflite`` metadata, the flatbuffer
bindings of ``ai-edge-litert``) are imported here; importing any module of this package
loads neither Keras nor TensorFlow (``tests/architecture`` checks it in a fresh
interpreter). ``ground_truth`` depends on this package only.

Modules:

* :mod:`~attention_center.core.frames`: the model frame (480x640) and the one image <-> frame
  coordinate transform (:class:`~attention_center.core.frames.FrameTransform`).
* :mod:`~attention_center.core.orientation`: EXIF orientation, displayed <-> stored pixels.
* :mod:`~attention_center.core.images`: decoding image files to RGB as displayed, fitting
  them into the frame (resize-with-pad).
* :mod:`~attention_center.core.files`: finding the images under folders.
* :mod:`~attention_center.core.atomic`: atomic writes, recognisable temporaries.
* :mod:`~attention_center.core.centers`: centres of points and images, centre errors,
  JPEG XL groups.
* :mod:`~attention_center.core.density`: fixation density maps.
* :mod:`~attention_center.core.splits`: the train/val/test split of an image id.
* :mod:`~attention_center.core.ground_truth_index`: the on-disk ground-truth build
  (``index.jsonl`` + frames) and the one record selection.
* :mod:`~attention_center.core.tflite_metadata`: reading the metadata of our ``.tflite`` files.
* :mod:`~attention_center.core.command_line`, :mod:`~attention_center.core.command_flags`: the
  exit-code convention and the flags programs share;
  :mod:`~attention_center.core.beam_options`: the Beam commands' pipeline options, checked
  (Beam imported only when called).

Conventions everywhere: points ``(x, y)``, x first, 0-based pixel centres; sizes ``(h, w)``.
"""
