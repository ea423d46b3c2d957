"""The dataset card of the TFDS form: description, per-source notes, citations, licences.

Text only (no TensorFlow): :mod:`ground_truth.build.tfds_dataset` puts it into each config's
``DatasetInfo`` (``description``, ``citation``, ``license``: ``dataset_info.json`` and
``LICENSE`` of a prepared dataset), and :func:`card_markdown` renders the whole card
(``attention-center ground-truth tfds --card``; docs/ground_truth.md).

The data are never redistributed: a config is prepared on the machine that holds
``../shared/data`` (the manual directory) and stays there.
"""

from __future__ import annotations

from typing import Optional

from attention_center.core.ground_truth_tfds import (
    DATASET_NAME,
    DENSITY_STRIDE,
    FEATURE_DOCS,
)

__all__ = [
    "CITATIONS",
    "DATASETS",
    "DESCRIPTION",
    "MANUAL_DOWNLOAD_INSTRUCTIONS",
    "card_markdown",
    "citation_for",
    "dataset_of",
    "licence_for",
    "source_notes",
]

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Nothing is downloaded. The manual directory is the folder holding the datasets as the
project keeps them, `../shared/data` beside the repository (`--data_dir` of
`attention-center ground-truth build` / `tfds`): `osie/` (OSIE: `data/eye/fixations.mat`,
`data/mouse_lab/`, `data/mouse_amt/`, `data/stimuli/`), `scene/` (`data/tidy/fixations.mat`,
`imgInfo.mat`, `data/stimuli/`), `salicon_examples/` (`annotations/`, `images/`),
`bubbleview/` (the BubbleView `.mat` files and `targets_*/`). A generic `.csv`/`.jsonl`
source is read from its path (absolute, or relative to the manual directory). Prepare with
`attention-center ground-truth tfds --source SOURCE --data_dir ../shared/data --out DIR`
(or `download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=...))`).
"""

DESCRIPTION = f"""\
Attention centres from people: where they look first in an image, from eye tracking,
mouse movements and BubbleView clicks. One config per source (`ground_truth.readers.SOURCES`);
one example per (image, source) record: each observer's initial points (temporal filter),
stray points dropped (spatial filter), the centre is the mean of the rest
(docs/ground_truth.md). The examples are the rows of the portable build
(`attention-center ground-truth build`: `index.jsonl` + `frames/`) of the same source, with
the same values, the same frame bytes and the same splits.

Splits: train / val / test by image, `attention_center.core.splits.split_of(image_id, seed=0)`
(80 / 8 / 12 %), the same for an image in every source and every config; a split with no
image in a source is left out (salicon_mouse has no val).

Coordinates: (x, y), x first, 0-based pixel centres of the image as displayed (EXIF
applied); sizes (h, w). Frames are the original image fitted into 480x640 by
resize-with-pad (`attention_center.core.images.resize_with_pad`); frame coordinates map to
the original ones with `attention_center.core.frames.frame_transform(original_hw, (480, 640))`.
`as_supervised=True` gives (`image`, `center_frame`): the frame and the centre in its pixels.
The original images are not stored (`image_path` names them under `data_dir`), which keeps
every example at one 480x640 JPEG (about 60 kB).

Features:
{chr(10).join(f"- `{name}`: {doc}" for name, doc in FEATURE_DOCS.items())}

Density maps: stride {DENSITY_STRIDE} over the frame.
Licences: OSIE and Scene MIT; SALICON's images under their Flickr licences; BubbleView
(FiWI, MASSVIS, GDI and the BubbleView copies of OSIE and SALICON) has no licence file:
cite Kim et al., TOCHI 2017, and use it for research, training and evaluation only.
Never redistribute a prepared dataset or its sources: prepare it where the data are.
Read a prepared config with `tfds.builder_from_directory(DIR/{DATASET_NAME}/SOURCE/VERSION)`
or `tfds.builder("{DATASET_NAME}/SOURCE", data_dir=DIR)`, and train or evaluate on it with
`attention-center train|evaluate --data tfds:DIR`.
"""

#: BibTeX per dataset (the image set of a source).
CITATIONS = {
    "osie": """@article{xu2014predicting,
  title={Predicting human gaze beyond pixels},
  author={Xu, Juan and Jiang, Ming and Wang, Shuo and Kankanhalli, Mohan S. and Zhao, Qi},
  journal={Journal of Vision},
  volume={14},
  number={1},
  pages={28},
  year={2014}
}""",
    "scene": """@misc{liang2015scene,
  title={Saliency Prediction with Scene Structural Guidance (data and Matlab tools)},
  author={Liang, Haoran and Jiang, Ming and Liang, Ronghua and Zhao, Qi},
  howpublished={NUS VIP Lab, MIT licence},
  year={2015}
}""",
    "salicon": """@inproceedings{jiang2015salicon,
  title={SALICON: Saliency in Context},
  author={Jiang, Ming and Huang, Shengsheng and Duan, Juanyong and Zhao, Qi},
  booktitle={IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
  year={2015}
}""",
    "bubbleview": """@article{kim2017bubbleview,
  title={BubbleView: an interface for crowdsourcing image importance maps and tracking visual
  attention},
  author={Kim, Nam Wook and Bylinskii, Zoya and Borkin, Michelle A and Gajos, Krzysztof Z and
  Oliva, Aude and Durand, Fredo and Pfister, Hanspeter},
  journal={ACM Transactions on Computer-Human Interaction (TOCHI)},
  volume={24},
  number={5},
  pages={36},
  year={2017},
  publisher={ACM}
}""",
    "fiwi": """@inproceedings{shen2014webpage,
  title={Webpage Saliency},
  author={Shen, Chengyao and Zhao, Qi},
  booktitle={European Conference on Computer Vision (ECCV)},
  year={2014}
}""",
    "massvis": """@article{borkin2016beyond,
  title={Beyond Memorability: Visualization Recognition and Recall},
  author={Borkin, Michelle A. and Bylinskii, Zoya and Kim, Nam Wook and Bainbridge, Constance May
  and Yeh, Chelsea S. and Borkin, Daniel and Pfister, Hanspeter and Oliva, Aude},
  journal={IEEE Transactions on Visualization and Computer Graphics},
  volume={22},
  number={1},
  year={2016}
}""",
    "gdi": """@article{odonovan2014learning,
  title={Learning Layouts for Single-Page Graphic Designs},
  author={O'Donovan, Peter and Agarwala, Aseem and Hertzmann, Aaron},
  journal={IEEE Transactions on Visualization and Computer Graphics},
  volume={20},
  number={8},
  year={2014}
}""",
}

#: The sources outside BubbleView: (dataset, note).
DATASETS = {
    "osie_eye": (
        "osie",
        "OSIE (Xu et al., JoV 2014): 700 images at 800x600, eye tracking, 15 "
        "observers; the first fixation (pre-stimulus) dropped, then the first 3 within "
        "1500 ms. MIT licence.",
    ),
    "osie_mouse_lab": (
        "osie",
        "OSIE lab mouse tracking: 700 images, 12-16 observers; the "
        "cursor's start sample dropped, then the first 30 samples. MIT licence.",
    ),
    "osie_mouse_amt": (
        "osie",
        "OSIE crowd (Amazon Mechanical Turk) mouse tracking: 700 "
        "images, ~90-120 observer runs; first sample dropped, then 30. MIT licence.",
    ),
    "scene_eye": (
        "scene",
        "Scene saliency (Liang et al. 2015, SUN2012 images): 500 images of "
        "mixed sizes, eye tracking, ~12 observers with real onsets; fixations "
        "starting under 100 ms dropped, then the first 3 within 1500 ms. MIT licence.",
    ),
    "salicon_mouse": (
        "salicon",
        "SALICON examples (Jiang et al., CVPR 2015, COCO images): 10 "
        "images at 640x480, mouse on a blurred image, 55-67 observers; first "
        "sample dropped, then 30. Images under their Flickr licences. No val split.",
    ),
}

_BUBBLEVIEW_NOTE = (
    "BubbleView (Kim et al., TOCHI 2017), no licence file: cite the paper; "
    "research, training and evaluation only; never redistribute."
)


def _bubbleview_file(source: str):
    """The reader's description of a BubbleView source, or None (another source)."""
    try:
        from ground_truth.readers.bubbleview import FILES_BY_SOURCE
    except ImportError:  # no BubbleView reader: no BubbleView sources
        return None
    return FILES_BY_SOURCE.get(source)


def dataset_of(source: str) -> Optional[str]:
    """The image set of a source (``"osie"``, ``"fiwi"``, ...), or None when unknown (generic)."""
    if source in DATASETS:
        return DATASETS[source][0]
    entry = _bubbleview_file(source)
    return getattr(entry, "dataset", None) if entry is not None else None


def source_notes(source: str) -> str:
    """One paragraph about a source: what was recorded, how it is filtered, its licence."""
    if source in DATASETS:
        return DATASETS[source][1]
    entry = _bubbleview_file(source)
    if entry is None:
        return (
            f"{source}: a generic CSV/JSONL file (ground_truth.readers.generic): your own "
            "points; licence and citation are the data owner's."
        )
    settings = []
    if getattr(entry, "task", None):
        settings.append(f"task {entry.task}")
    if getattr(entry, "seconds", None):
        settings.append(f"{entry.seconds:g} s per image")
    if getattr(entry, "blur_px", None):
        settings.append(f"blur sigma {entry.blur_px} px, bubble radius {entry.radius_px} px")
    if getattr(entry, "experiment", None):
        settings.append(f"experiment {entry.experiment} of the paper")
    return (
        f"{entry.dataset} images, {entry.modality} data from `bubbleview/{entry.file}` "
        f"({', '.join(settings)}). {_BUBBLEVIEW_NOTE}"
    )


def citation_for(source: str) -> str:
    """BibTeX to cite for a source: its image set's paper, plus BubbleView's for its files."""
    dataset = dataset_of(source)
    keys = []
    if dataset in CITATIONS:
        keys.append(dataset)
    if _bubbleview_file(source) is not None:
        keys.append("bubbleview")
    return "\n\n".join(CITATIONS[key] for key in dict.fromkeys(keys))


def licence_for(source: str) -> str:
    """The licence line of a source."""
    if source in ("osie_eye", "osie_mouse_lab", "osie_mouse_amt", "scene_eye"):
        return "MIT (osie/LICENSE, scene/data/LICENSE.txt of the sources); never redistribute."
    if source == "salicon_mouse":
        return (
            "SALICON annotations; images under the Flickr licences listed in their JSON; "
            "never redistribute."
        )
    if _bubbleview_file(source) is not None:
        return _BUBBLEVIEW_NOTE
    return "The data owner's; never redistribute data you may not."


def card_markdown(sources) -> str:
    """The whole card, in markdown: description, then a section per source."""
    lines = [
        f"# {DATASET_NAME}",
        "",
        DESCRIPTION,
        "## Manual directory",
        "",
        MANUAL_DOWNLOAD_INSTRUCTIONS,
        "## Configs (one per source)",
        "",
    ]
    for source in sources:
        lines += [
            f"### {source}",
            "",
            source_notes(source),
            "",
            f"Licence: {licence_for(source)}",
            "",
        ]
        citation = citation_for(source)
        if citation:
            lines += ["```bibtex", citation, "```", ""]
    return "\n".join(lines)
