"""Running models: the one TFLite runner (:mod:`~attention_center.inference.tflite`), the
predictors and their loader (:mod:`~attention_center.inference.predictors`), centres of images
in their original pixels (:mod:`~attention_center.inference.prediction`) and overlays."""
