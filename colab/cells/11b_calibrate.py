from attention_center.evaluation.temperature import fit_temperature
from attention_center.models import load_model, with_head_temperature

temperatures = [float(t) for t in CALIBRATE_TEMPERATURES.split(",") if t.strip()]
if not temperatures or not any(r["split"] == "val" for r in rows):
    print("no calibration (no candidate temperatures, or no validation images)")
else:
    start = time.perf_counter()
    trained = load_model(MODEL_PATH)
    fit = fit_temperature(trained, GT_DIR, split="val", temperatures=temperatures)
    TIMES["calibration"] = time.perf_counter() - start
    display(Markdown(fit.markdown()))
    if fit.temperature != 1.0:
        MODEL_PATH = RUN_DIR / "calibrated.keras"
        with_head_temperature(trained, fit.temperature).save(MODEL_PATH)
    print(f"temperature {fit.temperature:g}: evaluating and exporting {MODEL_PATH}")
