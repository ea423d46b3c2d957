from attention_center.evaluation.evaluate import evaluate, markdown_table

test_rows = [r for r in rows if r["split"] == "test"]
modality = "eye" if any(r["modality"] == "eye" for r in test_rows) else "mouse"
start = time.perf_counter()
evaluation = evaluate(GT_DIR, [str(MODEL_PATH)], split="test", modality=modality,
                      max_images=MAX_EVAL_IMAGES or None, progress=False)
TIMES["evaluation"] = time.perf_counter() - start
table = markdown_table(evaluation.methods)
(OUT / "evaluation.md").write_text(table, encoding="utf-8")
(OUT / "evaluation.json").write_text(json.dumps(evaluation.to_json(), indent=1), encoding="utf-8")
display(Markdown(f"Test split, {modality} records:\n\n" + table))
for failure in evaluation.failures:
    print("FAILED:", failure)
