"""JPEG XL: the ``cjxl`` encoder (:mod:`~attention_center.jxl.encoder`), encoding folders
centre-first (:mod:`~attention_center.jxl.batch`), libjxl's group order and the choice of the
encoder's centre."""
