from export.pipeline import run_export


def frames_folder(folder: Path, splits) -> Path:
    """A folder with copies of the ground-truth frames of some splits (the export reads folders)."""
    folder.mkdir(parents=True, exist_ok=True)
    for row in rows:
        if row["split"] in splits:
            target = folder / Path(row["frame_abspath"]).name
            if not target.exists():
                shutil.copyfile(row["frame_abspath"], target)
    return folder


TFLITE_PATH = EXPORT_DIR / "center.tflite"
start = time.perf_counter()
status = run_export(
    model=str(MODEL_PATH), out=str(TFLITE_PATH), quantization="int8", input_hw=(480, 640),
    representative_data=frames_folder(EXPORT_DIR / "calibration", {"train"}),
    num_representative=NUM_CALIBRATION,
    parity_data=frames_folder(EXPORT_DIR / "parity", {"val", "test"}), num_parity=NUM_PARITY,
    parity_threshold=PARITY_THRESHOLD, progress=False)
TIMES["export"] = time.perf_counter() - start
if status != 0 or not TFLITE_PATH.is_file():
    raise RuntimeError(f"export failed with status {status} (see the messages above)")
metadata = json.loads(TFLITE_PATH.with_name(TFLITE_PATH.name + ".json").read_text())
print(f"{TFLITE_PATH}: {TFLITE_PATH.stat().st_size / 1e6:.2f} MB")
