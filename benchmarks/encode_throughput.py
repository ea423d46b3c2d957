"""The main job's cost: ``attention-center encode`` on a photo collection, ours beside Google's.

    python benchmarks/encode_throughput.py --data_dir ../shared/data [--large 8] \
        [--markdown runs/bench/encode.md]

Two collections, both made from the 24 Kodak photos:

* **Kodak PNG**: the 24 photos as they are (768x512 PNG, what cjxl re-encodes losslessly
  from pixels);
* **24 MP JPEG**: ``--large`` of them upscaled to 6000x4000 (portrait 4000x6000) and saved as
  quality-90 JPEGs under a temporary folder, the size of a camera's photos (cjxl transcodes
  a JPEG losslessly, so decoding and the model's input are most of the work).

Each is encoded by the same command, ``attention-center encode --image_dir ... --output_dir
...`` with every default, once with each model of ``--model`` (ours, the bundled ``default``;
the anchor, Google's ``center.tflite`` read from ``../shared/anchors``), in one run, each
as a subprocess under GNU ``time``: wall seconds, CPU seconds (user + system of the command
and its cjxl children), the largest resident set of any one of its processes (the encoder
or one cjxl), and the ratio of each figure to the anchor's. The ``.jxl`` files are checked
(one per image, each starting with the JPEG XL signature) and removed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.anchor import GOOGLE_COLUMN, GOOGLE_MODEL, named_specs  # noqa: E402

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The command's flags (defined when it runs, so tests may import the module beside other
    benchmarks that define flags of the same names)."""
    flags.DEFINE_string("data_dir", "../shared/data", "Datasets folder (with kodak/).")
    flags.DEFINE_integer("kodak", 24, "Kodak photos in the PNG collection (0: none).", 0)
    flags.DEFINE_integer("large", 8, "24 MP JPEGs made from Kodak photos (0: none).", 0)
    flags.DEFINE_list("large_hw", ["4000", "6000"], "H,W of the large JPEGs (landscape).")
    flags.DEFINE_multi_string(
        "model",
        ["default", f"{GOOGLE_COLUMN}={GOOGLE_MODEL}"],
        "NAME=SPEC models; the last is the anchor every ratio divides by.",
    )
    flags.DEFINE_string("markdown", None, "Also write the command and the table here.")


#: The first bytes of a JPEG XL file: a bare codestream, or the ISO BMFF container.
JXL_SIGNATURES = (b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")


def kodak_photos(data_dir: Path, count: int) -> list[Path]:
    """The first ``count`` Kodak PNGs, sorted by name."""
    photos = sorted((data_dir / "kodak").glob("*.png"))[:count]
    if count and not photos:
        raise SystemExit(f"no Kodak photos under {data_dir / 'kodak'}")
    return photos


def large_jpegs(photos: list[Path], count: int, hw: tuple[int, int], folder: Path) -> list[Path]:
    """``count`` photos upscaled to ``hw`` (``(w, h)`` for portrait ones), quality-90 JPEGs."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        source = photos[i % len(photos)]
        with Image.open(source) as image:
            h, w = hw if image.width >= image.height else hw[::-1]
            path = folder / f"{i:02d}_{source.stem}.jpg"
            image.convert("RGB").resize((w, h), Image.BICUBIC).save(path, quality=90)
        out.append(path)
    return out


def linked_collection(paths: list[Path], folder: Path) -> Path:
    """A folder of symlinks to ``paths`` (so the collection holds nothing else)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in paths:
        (folder / path.name).symlink_to(path.resolve())
    return folder


def timed_encode(image_dir: Path, output_dir: Path, model: str) -> dict:
    """Runs ``attention-center encode`` under GNU time: ``{"wall", "cpu", "peak_mb"}``.

    Raises:
      RuntimeError: the command failed, or did not write one JPEG XL file per image.
    """
    report = output_dir.parent / f"{output_dir.name}.time"
    command = [
        "/usr/bin/time",
        "-f",
        "%e %U %S %M",
        "-o",
        str(report),
        sys.executable,
        "-m",
        "attention_center",
        "encode",
        f"--image_dir={image_dir}",
        f"--output_dir={output_dir}",
        f"--model={model}",
        "--noprogress",
    ]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"encode with {model} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    wall, user, system, peak_kb = report.read_text().split()[-4:]
    inputs = sorted(p.name for p in image_dir.iterdir())
    written = sorted(output_dir.rglob("*.jxl"))
    if [p.name for p in written] != [f"{n}.jxl" for n in inputs]:
        raise RuntimeError(f"encode with {model} wrote {[p.name for p in written]} for {inputs}")
    for path in written:
        with open(path, "rb") as handle:
            head = handle.read(12)
        if not head.startswith(JXL_SIGNATURES):
            raise RuntimeError(f"{path} is not a JPEG XL file")
    shutil.rmtree(output_dir)
    return {"wall": float(wall), "cpu": float(user) + float(system), "peak_mb": int(peak_kb) / 1024}


def markdown_table(rows: list[dict], anchor: str) -> str:
    """One line per collection and model; ratios to ``anchor``'s row of the same collection."""
    lines = [
        "| collection | images | model | wall s | images/s | CPU s / image | peak RSS (MB) "
        f"| wall / {anchor}'s | CPU / {anchor}'s | peak RSS / {anchor}'s |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        same = [r for r in rows if r["collection"] == row["collection"]]
        base = next(r for r in same if r["model"] == anchor)
        n = row["images"]
        lines.append(
            f"| {row['collection']} | {n} | {row['model']} | {row['wall']:.1f} "
            f"| {n / row['wall']:.1f} | {row['cpu'] / n:.3f} | {row['peak_mb']:.0f} "
            f"| {row['wall'] / base['wall']:.2f}x | {row['cpu'] / base['cpu']:.2f}x "
            f"| {row['peak_mb'] / base['peak_mb']:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def run(data_dir: Path, kodak: int, large: int, large_hw, models: dict[str, str]) -> list[dict]:
    """Every collection encoded with every model: one row each (``collection``, ``images``,
    ``model``, ``wall``, ``cpu``, ``peak_mb``)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="encode_throughput_") as tmp:
        tmp = Path(tmp)
        photos = kodak_photos(data_dir, max(kodak, 1 if large else 0))
        collections = {}
        if kodak:
            collections["Kodak PNG 768x512"] = linked_collection(photos[:kodak], tmp / "kodak")
        if large:
            jpegs = large_jpegs(kodak_photos(data_dir, 24), large, large_hw, tmp / "large_files")
            h, w = large_hw
            collections[f"JPEG {w}x{h} (quality 90)"] = linked_collection(jpegs, tmp / "large")
        for collection, folder in collections.items():
            count = len(list(folder.iterdir()))
            for name, spec in models.items():
                figures = timed_encode(folder, tmp / "out", spec)
                rows.append({"collection": collection, "images": count, "model": name, **figures})
                print(f"{collection}, {name}: {figures}", flush=True)
    return rows


def main(argv):
    del argv
    models = named_specs(FLAGS.model)
    anchor = list(models)[-1]
    hw = tuple(int(v) for v in FLAGS.large_hw)
    rows = run(Path(FLAGS.data_dir), FLAGS.kodak, FLAGS.large, hw, models)
    table = markdown_table(rows, anchor)
    print(table)
    if FLAGS.markdown:
        command = "python benchmarks/encode_throughput.py " + " ".join(sys.argv[1:])
        Path(FLAGS.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(FLAGS.markdown).write_text(f"```sh\n{command}\n```\n\n{table}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
