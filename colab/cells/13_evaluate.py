from attention_center.evaluation.evaluate import evaluate, markdown_table

test_rows = [r for r in rows if r["split"] == "test"]
modality = "eye" if any(r["modality"] == "eye" for r in test_rows) else "mouse"
start = time.perf_counter()
evaluation = evaluate(GT_DIR, [str(MODEL_PATH)], split="test", modality=modality,
                      max_images=MAX_EVAL_IMAGES or None, progress=False)
TIMES["evaluation"] = time.perf_counter() - start
table = markdown_table(evaluation.methods)
# Is the model really better than the layout prior? Its mean error over the dataset-mean centre's,
# with a paired bootstrap 95% interval over the test images (one that spans 1: can't tell).
versus_prior = evaluation.ratio(MODEL_PATH.name, "dataset-mean")
report = evaluation.to_json() | {"versus_dataset_mean": dataclasses.asdict(versus_prior)}
(OUT / "evaluation.md").write_text(table, encoding="utf-8")
(OUT / "evaluation.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
display(Markdown(f"Test split, {modality} records:\n\n" + table
                 + f"\nMean error over the dataset-mean centre's: **{versus_prior}**"))
for failure in evaluation.failures:
    print("FAILED:", failure)
