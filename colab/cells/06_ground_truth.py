from ground_truth.build import build, stats_markdown
from attention_center.core.ground_truth_index import read_index

sources = [RECORDS] if RECORDS else [s.strip() for s in SOURCES.split(",") if s.strip()]
data_dir = DATA_DIR or (str(Path(RECORDS).resolve().parent) if RECORDS else str(DATA))
start = time.perf_counter()
report = build(sources, data_dir, GT_DIR, seed=SEED, progress=False)
TIMES["ground truth"] = time.perf_counter() - start
display(Markdown(stats_markdown(report.stats)))
for error in report.errors:
    print("ERROR:", error)
if not report.rows:
    raise RuntimeError(f"no records from {sources} (data folder {data_dir}): "
                       + ("; ".join(report.errors) or "the files hold no usable points"))
rows = read_index(GT_DIR)
counts = {split: len({r["image_id"] for r in rows if r["split"] == split})
          for split in ("train", "val", "test")}
print("images by split:", counts)
missing = [split for split, n in counts.items() if n == 0]
if missing:
    raise RuntimeError(f"no {' or '.join(missing)} images in {GT_DIR}: the split is by a hash of "
                       "the image id (80/8/12 %); add images (or change SEED)")
