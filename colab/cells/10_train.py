from attention_center.core.frames import parse_hw
from attention_center.training.trainer import Trainer, TrainConfig, read_history
from ground_truth.training_use import loss_weights

source_weights = loss_weights() if PROXY_WEIGHTS else None

config = TrainConfig(
    data_dir=str(GT_DIR), out_dir=str(RUN_DIR), sources=(),  # (): every source in the build
    backbone=BACKBONE, alpha=ALPHA, backbone_weights=BACKBONE_WEIGHTS,
    input_hw=parse_hw(INPUT_SIZE), batch_size=BATCH_SIZE, epochs=EPOCHS,
    freeze_epochs=min(FREEZE_EPOCHS, EPOCHS), max_images=MAX_IMAGES, strategy=strategy,
    seed=SEED, verbose=2, source_weights=source_weights, teacher=TEACHER or None,
    teacher_weight=TEACHER_WEIGHT if TEACHER else 0.0,
    no_flip_datasets=tuple(d for d in NO_FLIP_DATASETS.split(",") if d))
start = time.perf_counter()
summary = Trainer(config).run()
TIMES["training"] = time.perf_counter() - start
MODEL_PATH = Path(summary["model"])
print(json.dumps(summary, indent=1))
