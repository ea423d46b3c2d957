"""How far each model's centre moves when the image barely changes (its own jitter).

The export's int8 parity bar (issue 24: the int8 file's centre at most 1% of the diagonal,
8 px at 640x480, from the Keras model's) reads as a quantization error. This benchmark puts it
beside what a user cannot see: the same photo moved by one pixel, re-encoded as JPEG quality
90, or with noise of one grey level. Where a centre moves more under those than under int8
rounding, int8 is not what makes it unsure; and the JPEG XL group order (256x256 groups) only
changes when a centre crosses into another group.

In one run, on the same photos (by default the export's 50 parity photos: OSIE val- and
test-split stimuli, ``export.images.default_parity_paths``), for every model (Google's
``center.tflite``, the anchor; ``--model`` NAME=SPEC, by default the bundled ``default`` int8
file, its Keras model and ``large``), and for every perturbation (``--perturbations``):

- ``shift1``: the frame's content moved 1 px right and 1 px down (the first row and column
  repeated). The centre should move by (+1, +1); the jitter is the distance from there.
- ``jpeg90``: the frame re-encoded as a JPEG of quality 90 (Pillow, 4:2:0).
- ``noise1``: Gaussian noise of standard deviation 1/255 (one grey level), seeded, clipped.

it prints the largest and the mean jitter (frame pixels, and the largest over the diagonal),
how many photos moved by more than 1% of the diagonal, the share of photos whose centre landed
in another 256x256 JPEG XL group of the photo (the group ``cjxl --group_order 1`` starts from:
what a viewer would see change), each model's mean jitter over Google's
(the ratio: lower is steadier), and, for the pairs given with ``--int8_pair INT8=FLOAT``,
how far the int8 file's centre is from its float model's on the unperturbed photos (the
export's parity figure) for comparison.

Coordinates: (x, y), 0-based pixel centres of the 480x640 model frame
(:mod:`attention_center.core.frames`).

Usage, from the repository root::

    python benchmarks/center_stability.py [--images 50] [--model NAME=SPEC ...] \\
        [--perturbations shift1,jpeg90,noise1] [--markdown runs/bench/stability.md]
"""

from __future__ import annotations

import dataclasses
import io
import shlex
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from absl import app, flags

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.anchor import GOOGLE_COLUMN, GOOGLE_MODEL, named_specs  # noqa: E402

flags.DEFINE_multi_string(
    "model",
    ["default", "default float=default:keras", "large"],
    "A model to measure: NAME=SPEC, a preset name or a file. Repeatable.",
)
flags.DEFINE_string(
    "google_model", str(GOOGLE_MODEL), "Google's center.tflite ('' to leave it out)."
)
flags.DEFINE_list("perturbations", ["shift1", "jpeg90", "noise1"], "Perturbations to apply.")
flags.DEFINE_multi_string(
    "int8_pair",
    ["default=default float"],
    "INT8=FLOAT: two --model names whose centres on the unperturbed photos are compared "
    "(the export's parity figure). Repeatable.",
)
flags.DEFINE_integer("images", 50, "Photos (the export's parity photos, evenly spaced).")
flags.DEFINE_string("image_dir", None, "Take the photos from this folder instead.")
flags.DEFINE_integer("seed", 0, "Seed of the noise.")
flags.DEFINE_string("markdown", None, "Also write the command and the table here.")
flags.DEFINE_string("json", None, "Also write every figure here.")
FLAGS = flags.FLAGS


def shifted(frames: np.ndarray, dx: int = 1, dy: int = 1) -> np.ndarray:
    """``float32 [N, H, W, 3]`` frames with their content moved ``dx`` px right, ``dy`` down.

    The first ``dy`` rows and ``dx`` columns repeat the edge; the content that leaves the
    frame at the right and bottom is dropped. ``dx, dy >= 0``.
    """
    if dx < 0 or dy < 0:
        raise ValueError(f"shifts must be >= 0, got dx={dx}, dy={dy}")
    h, w = frames.shape[1:3]
    padded = np.pad(frames, ((0, 0), (dy, 0), (dx, 0), (0, 0)), mode="edge")
    return padded[:, :h, :w]


def jpeg_reencoded(frames: np.ndarray, quality: int = 90) -> np.ndarray:
    """Frames (RGB in [0, 1]) through a Pillow JPEG of ``quality`` and back, ``float32``."""
    from PIL import Image

    out = np.empty_like(frames, dtype=np.float32)
    for i, frame in enumerate(frames):
        buffer = io.BytesIO()
        pixels = np.round(np.clip(frame, 0.0, 1.0) * 255.0).astype(np.uint8)
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        out[i] = np.asarray(Image.open(buffer).convert("RGB"), np.float32) / 255.0
    return out


def noisy(frames: np.ndarray, sigma: float = 1.0 / 255.0, seed: int = 0) -> np.ndarray:
    """Frames plus Gaussian noise of standard deviation ``sigma``, clipped to [0, 1]."""
    rng = np.random.default_rng(seed)
    return np.clip(frames + rng.normal(0.0, sigma, frames.shape), 0.0, 1.0).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Perturbation:
    """A change no viewer would notice, and where it should take the centre.

    Attributes:
      name: short label.
      label: one line for the table.
      apply: ``float32 [N, H, W, 3]`` -> the perturbed frames.
      offset: ``(dx, dy)`` frame pixels the content moved (the centre should follow).
    """

    name: str
    label: str
    apply: Callable[[np.ndarray], np.ndarray]
    offset: tuple[float, float] = (0.0, 0.0)


def perturbations(seed: int = 0) -> dict[str, Perturbation]:
    """The perturbations this benchmark knows, by name."""
    return {
        "shift1": Perturbation("shift1", "moved 1 px right and down", shifted, (1.0, 1.0)),
        "jpeg90": Perturbation("jpeg90", "JPEG quality 90", jpeg_reencoded),
        "noise1": Perturbation(
            "noise1", "noise of 1 grey level", lambda f: noisy(f, 1.0 / 255.0, seed)
        ),
    }


def jitter(centers: np.ndarray, perturbed_centers: np.ndarray, offset=(0.0, 0.0)) -> np.ndarray:
    """``float64 [N]``: distance of each perturbed centre from ``centre + offset``, px."""
    expected = np.asarray(centers, np.float64) + np.asarray(offset, np.float64)
    return np.linalg.norm(np.asarray(perturbed_centers, np.float64) - expected, axis=-1)


@dataclasses.dataclass
class Jitter:
    """One model's centre movements under one perturbation.

    Attributes:
      model, perturbation: names.
      distances: ``float64 [N]`` frame pixels, one per photo.
      diagonal: the frame's diagonal in pixels.
      group_changed: ``bool [N]``: the centre, in the photo's own pixels, fell in another
        256x256 JPEG XL group than before (``cjxl --group_order 1`` would start elsewhere).
      worst_image: the photo that moved most.
    """

    model: str
    perturbation: str
    distances: np.ndarray
    diagonal: float
    group_changed: np.ndarray
    worst_image: str = ""

    @property
    def max_px(self) -> float:
        return float(self.distances.max())

    @property
    def mean_px(self) -> float:
        return float(self.distances.mean())

    @property
    def over_one_percent(self) -> int:
        return int(np.sum(self.distances > 0.01 * self.diagonal))

    @property
    def group_changed_share(self) -> float:
        return float(np.mean(self.group_changed))

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "perturbation": self.perturbation,
            "images": int(len(self.distances)),
            "max_px": round(self.max_px, 3),
            "mean_px": round(self.mean_px, 3),
            "max_fraction_of_diagonal": round(self.max_px / self.diagonal, 5),
            "over_one_percent": self.over_one_percent,
            "group_changed_share": round(self.group_changed_share, 4),
            "worst_image": self.worst_image,
        }


def group_changed(centers: np.ndarray, moved_back: np.ndarray, transforms) -> np.ndarray:
    """``bool [N]``: whether two frame-pixel centres fall in different JPEG XL groups.

    Args:
      centers, moved_back: ``[N, 2]`` (x, y) frame pixels (a shifted photo's centre moved
        back by the shift).
      transforms: ``N`` :class:`~attention_center.core.frames.FrameTransform`, each photo's
        fit into the frame (the groups are the photo's own, in its pixels as displayed).
    """
    from attention_center.core.centers import same_jxl_group

    a = np.stack([t.points_to_original(c) for t, c in zip(transforms, np.asarray(centers))])
    b = np.stack([t.points_to_original(c) for t, c in zip(transforms, np.asarray(moved_back))])
    return ~same_jxl_group(a, b)


def load_photos(paths) -> tuple[list[str], np.ndarray, list, list]:
    """Each readable photo decoded once into the model frame, as the export's parity check does.

    Returns:
      ``(names, frames float32 [N, H, W, 3] RGB in [0, 1], transforms, errors)``: the
      :class:`~attention_center.core.frames.FrameTransform` of each photo and the
      :class:`~attention_center.core.images.ImageLoadError` of each unreadable one.
    """
    from attention_center.core.frames import MODEL_FRAME_HW
    from attention_center.core.images import ImageLoadError, decode_into_frame

    names, frames, transforms, errors = [], [], [], []
    for path in paths:
        try:
            frame, transform, _ = decode_into_frame(path, MODEL_FRAME_HW, reduced=False)
        except ImageLoadError as error:
            errors.append(error)
            continue
        names.append(Path(path).name)
        frames.append(frame)
        transforms.append(transform)
    frames = np.stack(frames) if frames else np.zeros((0, *MODEL_FRAME_HW, 3), np.float32)
    return names, frames, transforms, errors


def measure(
    predictors: Mapping[str, object],
    frames: np.ndarray,
    names: list[str],
    chosen: list[Perturbation],
    transforms=None,
) -> tuple[dict[str, np.ndarray], list[Jitter]]:
    """Every model's centres on ``frames`` and its jitter under every perturbation.

    Args:
      predictors: name -> :class:`~attention_center.inference.predictors.Predictor`.
      frames: ``float32 [N, H, W, 3]`` RGB in [0, 1], the models' frame.
      names: the photos' names, for ``worst_image``.
      chosen: the perturbations.
      transforms: each photo's :class:`~attention_center.core.frames.FrameTransform`, for
        the JPEG XL groups (default: photos the size of the frame).
    Returns:
      ``(centres, jitters)``: name -> ``float64 [N, 2]`` (x, y) on the unperturbed frames,
      and one :class:`Jitter` per model and perturbation.
    """
    from attention_center.core.frames import frame_transform
    from export.parity import diagonal

    frame_hw = tuple(int(v) for v in frames.shape[1:3])
    if transforms is None:
        transforms = [frame_transform(frame_hw, frame_hw)] * len(frames)
    diag = diagonal(frame_hw)
    centers = {n: np.asarray(p.predict_frames(frames)["center"]) for n, p in predictors.items()}
    results = []
    for perturbation in chosen:
        changed = perturbation.apply(frames)
        for name, predictor in predictors.items():
            moved = np.asarray(predictor.predict_frames(changed)["center"])
            distances = jitter(centers[name], moved, perturbation.offset)
            groups = group_changed(
                centers[name], moved - np.asarray(perturbation.offset), transforms
            )
            worst = names[int(np.argmax(distances))] if names else ""
            results.append(Jitter(name, perturbation.name, distances, diag, groups, worst))
    return centers, results


def markdown_table(results: list[Jitter], chosen: list[Perturbation], anchor: str | None) -> str:
    """Rows: models; per perturbation: largest (px, % of the diagonal) / mean / photos > 1% /
    share of photos whose centre changed JPEG XL group."""
    models = list(dict.fromkeys(r.model for r in results))
    by = {(r.model, r.perturbation): r for r in results}
    head = "| model | " + " | ".join(f"{p.label}: max / mean / > 1% / group" for p in chosen)
    head += " | mean over Google's |" if anchor else " |"
    lines = [head, "|---|" + "---:|" * (len(chosen) + (1 if anchor else 0))]
    for model in models:
        cells = []
        ratios = []
        for p in chosen:
            r = by[(model, p.name)]
            cells.append(
                f"{r.max_px:.2f} px ({100 * r.max_px / r.diagonal:.2f}%) / {r.mean_px:.2f} px / "
                f"{r.over_one_percent} / {100 * r.group_changed_share:.0f}%"
            )
            if anchor:
                base = by[(anchor, p.name)].mean_px
                ratios.append(f"{r.mean_px / base:.2f}" if base > 0 else "-")
        line = f"| {model} | " + " | ".join(cells)
        line += f" | {' / '.join(ratios)} |" if anchor else " |"
        lines.append(line)
    return "\n".join(lines)


def main(argv):
    del argv
    from attention_center.core.atomic import atomic_write_json, atomic_write_text
    from attention_center.inference.predictors import TFLitePredictor, load_predictor
    from export import images
    from export.parity import diagonal

    known = perturbations(FLAGS.seed)
    unknown = [p for p in FLAGS.perturbations if p not in known]
    if unknown:
        raise app.UsageError(f"unknown --perturbations {unknown}; known: {sorted(known)}")
    chosen = [known[p] for p in FLAGS.perturbations]
    if FLAGS.image_dir:
        paths = images.paths_from(FLAGS.image_dir, FLAGS.images)
    else:
        paths = images.default_parity_paths(FLAGS.images)
    names, frames, transforms, errors = load_photos(paths)
    for error in errors:
        print(f"unreadable, left out: {error}", file=sys.stderr)
    if not len(frames):
        raise app.UsageError("no readable photos")
    predictors = {}
    if FLAGS.google_model:
        predictors[GOOGLE_COLUMN] = TFLitePredictor(FLAGS.google_model, runtime="tf")
    for name, spec in named_specs(FLAGS.model).items():
        predictors[name] = load_predictor(spec)
    centers, results = measure(predictors, frames, names, chosen, transforms)
    anchor = GOOGLE_COLUMN if FLAGS.google_model else None
    table = markdown_table(results, chosen, anchor)
    diag = diagonal(frames.shape[1:3])
    pairs = [
        Jitter(
            int8,
            f"against {float_}",
            jitter(centers[float_], centers[int8]),
            diag,
            group_changed(centers[float_], centers[int8], transforms),
        )
        for int8, float_ in named_specs(FLAGS.int8_pair).items()
        if int8 in centers and float_ in centers
    ]
    pair_lines = [
        f"- {p.model} {p.perturbation}, unperturbed: max {p.max_px:.2f} px "
        f"({100 * p.max_px / diag:.2f}%), mean {p.mean_px:.2f} px, "
        f"{p.over_one_percent} photo{'' if p.over_one_percent == 1 else 's'} over 1%, "
        f"another JPEG XL group on {100 * p.group_changed_share:.0f}%"
        for p in pairs
    ]
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    text = (
        f"{len(frames)} photos ({FLAGS.image_dir or 'the export parity photos'}), "
        f"frame {frames.shape[2]}x{frames.shape[1]}, diagonal {diag:.0f} px; jitter: distance "
        "from the unperturbed centre (moved with the content for a shift).\n\n"
        f"{table}\n" + "\n".join(pair_lines)
    )
    print(text)
    if FLAGS.markdown:
        atomic_write_text(FLAGS.markdown, f"```sh\n{command}\n```\n\n{text}\n")
    if FLAGS.json:
        atomic_write_json(
            FLAGS.json,
            {
                "command": command,
                "images": names,
                "results": [r.to_dict() for r in results],
                "int8_pairs": [p.to_dict() for p in pairs],
            },
        )
    return 0


if __name__ == "__main__":
    app.run(main)
