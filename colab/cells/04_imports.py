os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # the TFLite export needs TensorFlow
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import dataclasses
import json
import shutil
import time

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from IPython.display import Markdown, display

import attention_center as ac

OUT = Path(OUT_DIR).resolve()
GT_DIR = OUT / "ground_truth"
RUN_DIR = OUT / "run"
EXPORT_DIR = OUT / "export"
OUT.mkdir(parents=True, exist_ok=True)
TIMES = {}  # seconds per step
print(f"attention_center {ac.__version__} ({Path(ac.__file__).parent}), keras {keras.__version__} "
      f"({keras.backend.backend()}), tensorflow {tf.__version__}")
print(f"python {sys.version.split()[0]} ({sys.executable})")
print("writing to", OUT)
