"""Which sources train, and with what loss weights: the recommendation of the proxy study.

:data:`TRAINING_USE` maps every source to a :class:`TrainingUse`; :func:`loss_weights` turns it
into what the trainer's ``source_weights`` takes (``attention-center train --source_weights
proxies``). The figures behind each entry come from :mod:`ground_truth.studies.proxies`
(``attention-center ground-truth proxies``; ``docs/proxies.md``), and the rule that turns them
into weights is :func:`weights_from`. Kept apart from the study so that a trainer needs the
table, not the study's readers. numpy only.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["TRAINING_USE", "TrainingUse", "loss_weights", "weights_from"]


@dataclasses.dataclass(frozen=True)
class TrainingUse:
    """How a source should take part in training (a recommendation: ``docs/proxies.md``).

    Attributes:
      train: whether to train on it at all.
      target: ``"center+density"`` (the centre loss and the auxiliary
        density-map loss), ``"density"`` (only the density-map loss) or ``"none"``.
      center_weight, density_weight: loss weights relative to eye tracking (1.0);
        :func:`weights_from` of ``skill`` and ``cc_ratio``.
      calibrated_on: the measured proxy the weights come from (``"<source> k=<k>"``),
        the source itself where it has a reference, else the nearest measured one.
      skill: its :func:`ground_truth.studies.proxies.skill` (centre) with its default ``k``.
      cc_ratio: its density CC with the eye density over the eye's own split-half CC.
      why: the reason, with the figures.
    """

    train: bool
    target: str
    center_weight: float
    density_weight: float
    calibrated_on: str
    skill: float
    cc_ratio: float
    why: str


def weights_from(skill_value: float, cc_ratio: float) -> tuple[float, float]:
    """The rule behind :data:`TRAINING_USE`: ``(center_weight, density_weight)``.

    Each is rounded *down* to a quarter: ``floor(4 * skill) / 4`` for the
    centre (0: the proxy's centre is no better than the image centre, 1: as
    good as eye tracking), ``floor(4 * cc_ratio) / 4`` for the density map;
    clipped to [0, 1].
    """

    def quarter(value: float) -> float:
        return float(np.clip(np.floor(4.0 * value + 1e-9) / 4.0, 0.0, 1.0))

    return quarter(skill_value), quarter(cc_ratio)


def _use(
    calibrated_on: str, skill_value: float, cc_ratio: float, why: str, train: bool = True
) -> TrainingUse:
    center, density = weights_from(skill_value, cc_ratio)
    if not train:
        center = density = 0.0
    target = "center+density" if center > 0 else ("density" if density > 0 else "none")
    return TrainingUse(
        train=train and target != "none",
        target=target,
        center_weight=center,
        density_weight=density,
        calibrated_on=calibrated_on,
        skill=skill_value,
        cc_ratio=cc_ratio,
        why=why,
    )


# The figures of `python -m ground_truth proxies --data_dir ../shared/data` (seed 0, 10 splits),
# default k of each proxy: skill and density-CC ratio (docs/proxies.md).
_FIWI_FREE = ("fiwi_click_30x30 k=5", 0.685, 0.795)  # the weakest of the six free-viewing files
_FIWI_DESC = ("fiwi_click_dx30 k=5", 0.530, 0.715)
_OSIE_CLICK = ("bv_osie_click_30x30 k=5", 0.461, 0.894)
_OSIE_AMT = ("osie_mouse_amt k=30", 0.188, 0.814)
_OSIE_LAB = ("bv_osie_mouse_lab k=30", 0.278, 0.797)
_OSIE_MM = ("bv_osie_mouse_mm30 k=30", 0.208, 0.708)
_EYE = ("eye tracking", 1.0, 1.0)

_COVERED_FIWI = (
    "not needed: all 51 screenshots have fiwi_eye, a better target; kept "
    "as the calibration of clicks on designed images"
)
_COVERED_OSIE = "not needed: all 51 images have osie_eye (700 images), a better target"
_COVERED_OSIE_ALL = "not needed: all 700 images have osie_eye, a better target"

#: The recommendation per source (``docs/proxies.md``): whether and how to train on it.
TRAINING_USE: dict[str, TrainingUse] = {
    "fiwi_eye": _use(
        *_EYE, "the only eye tracking of web pages; split-half 5.1 % vs 21.7 % for the image centre"
    ),
    **{
        f"fiwi_click_{t}x{r}": _use(
            f"fiwi_click_{t}x{r} k=5",
            *{
                "10x30": (0.824, 0.844),
                "10x50": (0.769, 0.867),
                "10x70": (0.811, 0.919),
                "30x30": (0.685, 0.795),
                "30x50": (0.760, 0.819),
                "30x70": (0.841, 0.904),
            }[f"{t}x{r}"],
            _COVERED_FIWI,
            train=False,
        )
        for t in (10, 30)
        for r in (30, 50, 70)
    },
    "fiwi_click_dx30": _use(*_FIWI_DESC, _COVERED_FIWI, train=False),
    "bv_osie_eye": _use(
        *_EYE,
        "a copy of osie_eye (all 765 observers, coordinates x 0.8): train on osie_eye",
        train=False,
    ),
    "bv_osie_mouse_lab": _use(
        *_OSIE_LAB,
        "a copy of osie_mouse_lab (all 74,409 samples, x 0.8); " + _COVERED_OSIE,
        train=False,
    ),
    "bv_osie_click_30x30": _use(
        *_OSIE_CLICK,
        _COVERED_OSIE + "; kept as the calibration of clicks on natural images",
        train=False,
    ),
    "bv_osie_mouse_mm30": _use(*_OSIE_MM, _COVERED_OSIE, train=False),
    "osie_mouse_lab": _use(*_OSIE_LAB, _COVERED_OSIE_ALL, train=False),
    "osie_mouse_amt": _use(*_OSIE_AMT, _COVERED_OSIE_ALL, train=False),
    "bv_salicon_mouse": _use(
        *_OSIE_AMT,
        "no eye data for these 51 COCO images; SALICON-style "
        "crowd mouse (calibrated on OSIE's): its centre is barely better "
        "than the image centre, its density map is useful",
    ),
    "bv_salicon_click_30x30": _use(
        *_OSIE_CLICK,
        "no eye data for these images; the one setting "
        "calibrated against eye tracking (on OSIE) and the one "
        "SALICON file to use (the other 8 are the same images)",
    ),
    **{
        f"bv_salicon_click_{b}x{r}": _use(
            *_OSIE_CLICK,
            "same 51 images as bv_salicon_click_30x30 "
            "(one record per image is enough); setting not "
            "calibrated against eye tracking",
            train=False,
        )
        for b in (30, 50, 70)
        for r in (30, 50, 70)
        if (b, r) != (30, 30)
    },
    **{
        f"bv_salicon_mouse_mm{r}": _use(
            *_OSIE_MM,
            "same images as bv_salicon_mouse and bv_salicon_click_30x30, and weaker than either",
            train=False,
        )
        for r in (30, 50)
    },
    "massvis_click_fv_40x32": _use(
        *_FIWI_FREE,
        "charts: no eye data here; free-viewing clicks, "
        "calibrated on web pages (the nearest measured class)",
    ),
    "massvis_click_exp1_40x32": _use(
        *_FIWI_DESC,
        "charts, description task (calibrated on "
        "FiWI's description task); the one exp1 file to use",
    ),
    "massvis_click_exp2_40x32": _use(
        *_FIWI_DESC, "charts, description task; the one exp2 file to use (other images than exp1)"
    ),
    **{
        name: _use(*_FIWI_DESC, "same 51 images as the 40x32 file of its experiment", train=False)
        for name in (
            "massvis_click_exp1_40x16",
            "massvis_click_exp1_40x24",
            "massvis_click_exp2_40x24",
            "massvis_click_exp2_40x40",
        )
    },
    "gdi_click_30x50": _use(
        *_FIWI_FREE, "graphic designs: no eye data; free-viewing clicks, calibrated on web pages"
    ),
}


def loss_weights(table: dict[str, TrainingUse] | None = None) -> dict[str, tuple[float, float]]:
    """``source -> (centre weight, density weight)`` of the sources that train.

    What the trainer's ``source_weights`` takes (``attention-center train --source_weights
    proxies``): :data:`TRAINING_USE` by default; sources it leaves out are not listed.
    """
    table = TRAINING_USE if table is None else table
    return {
        source: (use.center_weight, use.density_weight)
        for source, use in table.items()
        if use.train
    }
