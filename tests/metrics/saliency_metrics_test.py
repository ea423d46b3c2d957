"""Saliency and centre metrics: definitions against pysaliency's values, and sanity.

Reference values (``PYSALIENCY_REFERENCE`` below) were computed with
pysaliency 0.2.22 in a separate virtualenv (it needs numpy < 2.4, and a stand-in
for the ``torch`` it imports at top level; no metric uses torch)::

    python3 -m venv /work/venv-pysal
    /work/venv-pysal/bin/pip install "numpy<2.4" pysaliency==0.2.22 pytest   # numpy 2.3.5, scipy
    1.17.1
    mkdir -p /work/pysal-faketorch/torch   # __init__.py: a module __getattr__ returning a dummy
    PYTHONPATH=/work/pysal-faketorch:. /work/venv-pysal/bin/python tests/saliency_metrics_test.py

which runs :func:`_pysaliency_values` (at the bottom of this file) on the maps
of :func:`reference_cases` and prints the dict pasted below. Functions used:
``pysaliency.metrics.NSS`` (mean over fixations; equal to
``SaliencyMapModel.NSSs``), ``pysaliency.metrics.CC``,
``pysaliency.metrics.MIT_KLDiv``, ``pysaliency.metrics.SIM`` (each with the
density map as the second argument), and ``SaliencyMapModel.AUC_Judd(stimuli,
fixations, jitter=False)`` on a one-image ``Stimuli``/``Fixations``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage

MAP_HW = (32, 40)
DENSITY_SIGMA = 2.0


def reference_cases():
    """Four ``(name, map [32, 40] float64, fixations int [N, 2] (x, y), density [32, 40])``.

    Seeded legacy ``RandomState`` (its stream is frozen, NEP 19), so the maps
    are the same under any numpy version.
    """
    h, w = MAP_HW
    rs = np.random.RandomState(20240611)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cases = []
    # 1. Uniform noise, random fixations, one pixel fixated twice.
    s = rs.rand(h, w)
    fx = np.stack([rs.randint(0, w, 12), rs.randint(0, h, 12)], axis=1)
    fx = np.concatenate([fx, fx[:1]])
    cases.append(("noise", s, fx))
    # 2. A smooth blob plus noise, fixations around the blob (an informative map).
    s = np.exp(-((xx - 25.0) ** 2 + (yy - 10.0) ** 2) / (2 * 6.0**2)) + 0.05 * rs.rand(h, w)
    fx = np.stack(
        [
            np.clip(np.round(24 + 4 * rs.randn(15)), 0, w - 1),
            np.clip(np.round(11 + 4 * rs.randn(15)), 0, h - 1),
        ],
        axis=1,
    )
    cases.append(("blob", s, fx))
    # 3. Quantized map (many ties) with a zero region, some fixations on the zeros.
    s = np.floor(rs.rand(h, w) * 4) / 3.0
    s[:, :8] = 0.0
    fx = np.stack([rs.randint(0, w, 10), rs.randint(0, h, 10)], axis=1)
    fx[:3, 0] = [1, 3, 6]
    cases.append(("ties_zeros", s, fx))
    # 4. A signed map (densities shift it to be non-negative), clustered fixations.
    s = np.sin(xx / 5.0) * np.cos(yy / 7.0) + 0.1 * rs.randn(h, w)
    fx = np.stack(
        [
            np.clip(np.round(8 + 3 * rs.randn(9)), 0, w - 1),
            np.clip(np.round(16 + 3 * rs.randn(9)), 0, h - 1),
        ],
        axis=1,
    )
    cases.append(("signed", s, fx))
    out = []
    for name, s, fx in cases:
        fx = fx.astype(np.int64)
        counts = np.zeros((h, w))
        np.add.at(counts, (fx[:, 1], fx[:, 0]), 1.0)
        density = scipy.ndimage.gaussian_filter(counts, DENSITY_SIGMA, mode="constant")
        out.append((name, s, fx, density))
    return out


# pysaliency 0.2.22 (numpy 2.3.5, scipy 1.17.1); see the module docstring.
PYSALIENCY_REFERENCE = {
    "noise": {
        "NSS": -0.34125424290365725,
        "CC": -0.017469229814415392,
        "KLD": 1.2099344996436154,
        "SIM": 0.40721692112159913,
        "AUC-Judd": 0.43608954137345307,
    },
    "blob": {
        "NSS": 2.2598310212105486,
        "CC": 0.8692296845691578,
        "KLD": 0.47706909738540754,
        "SIM": 0.6039877258521508,
        "AUC-Judd": 0.94507635597683,
    },
    "ties_zeros": {
        "NSS": -0.43133469838414484,
        "CC": -0.12946437309198122,
        "KLD": 16.243673039617672,
        "SIM": 0.24143355228255756,
        "AUC-Judd": 0.37724409448818896,
    },
    "signed": {
        "NSS": -1.185281305245565,
        "CC": -0.325372567412194,
        "KLD": 2.9313760343731055,
        "SIM": 0.12296027750387495,
        "AUC-Judd": 0.20915289798059272,
    },
}


@pytest.fixture(scope="module")
def sal():
    from attention_center.metrics import saliency

    return saliency


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c[0])
def test_metrics_match_pysaliency(sal, case):
    name, saliency_map, fixations, density = case
    ours = sal.saliency_scores(saliency_map, fixations, density)
    assert set(ours) == set(sal.SALIENCY_METRICS)
    for metric, expected in PYSALIENCY_REFERENCE[name].items():
        assert ours[metric] == pytest.approx(expected, rel=1e-9, abs=1e-9), metric


def _auc_judd_mit_matlab(saliency_map, fixation_map):
    """Literal transcription of the MIT benchmark's ``AUC_Judd.m`` (jitter off)."""
    s = saliency_map.ravel()
    s = (s - s.min()) / (s.max() - s.min())
    f = fixation_map.ravel()
    sth = s[f > 0]
    n_fix, n_pix = len(sth), len(s)
    thresholds = np.sort(sth)[::-1]
    tp = np.zeros(n_fix + 2)
    fp = np.zeros(n_fix + 2)
    tp[-1] = fp[-1] = 1.0
    for i in range(1, n_fix + 1):
        above = np.sum(s >= thresholds[i - 1])
        tp[i] = i / n_fix
        fp[i] = (above - i) / (n_pix - n_fix)
    return float(np.sum(np.diff(fp) * (tp[1:] + tp[:-1]) / 2))


def test_auc_judd_equals_mit_matlab_definition_without_ties(sal):
    rs = np.random.RandomState(7)
    saliency_map = rs.rand(24, 30)
    flat = rs.choice(24 * 30, size=20, replace=False)  # distinct pixels, distinct values
    rows, cols = np.unravel_index(flat, (24, 30))
    fixation_map = np.zeros((24, 30))
    fixation_map[rows, cols] = 1
    points = np.stack([cols, rows], axis=1)
    expected = _auc_judd_mit_matlab(saliency_map, fixation_map)
    assert sal.auc_judd(saliency_map, points) == pytest.approx(expected, abs=1e-12)
    # AUC is invariant to monotone transforms of the map.
    assert sal.auc_judd(np.exp(3 * saliency_map), points) == pytest.approx(expected, abs=1e-12)


def test_kld_uses_matlab_eps(sal):
    s = np.array([[0.0, 1.0], [1.0, 2.0]])
    g = np.array([[1.0, 0.0], [1.0, 2.0]])
    p, q = s / s.sum(), g / g.sum()
    eps = 2.2204e-16
    expected = np.sum(q * np.log(eps + q / (p + eps)))
    assert sal.MATLAB_EPS == eps
    assert sal.kld(s, g) == pytest.approx(expected, rel=1e-12)
    # The fixated pixel (density 0.25) the map calls impossible costs 0.25 * log(0.25 / eps).
    assert sal.kld(s, g) > 0.25 * np.log(0.25 / eps) - 0.5


def _blob_density(hw=(48, 64), center=(40.0, 20.0), sigma=4.0):
    yy, xx = np.mgrid[0 : hw[0], 0 : hw[1]].astype(np.float64)
    d = np.exp(-((xx - center[0]) ** 2 + (yy - center[1]) ** 2) / (2 * sigma**2))
    return d / d.sum()


def test_perfect_map_beats_uniform_and_random(sal):
    rs = np.random.RandomState(3)
    density = _blob_density()
    fixations = np.stack([40 + 3 * rs.randn(30), 20 + 3 * rs.randn(30)], axis=1)
    perfect = sal.saliency_scores(density, fixations, density)
    # 0.7: its float mean is not exactly 0.7, so a plain std test would z-score rounding noise.
    uniform = sal.saliency_scores(np.full(density.shape, 0.7), fixations, density)
    noise = sal.saliency_scores(rs.rand(*density.shape), fixations, density)
    assert perfect["CC"] == pytest.approx(1.0)
    assert perfect["SIM"] == pytest.approx(1.0)
    assert perfect["KLD"] == pytest.approx(0.0, abs=1e-9)
    assert perfect["AUC-Judd"] > 0.9
    assert perfect["NSS"] > 2.0
    assert uniform["NSS"] == 0.0
    assert uniform["CC"] == 0.0
    assert uniform["AUC-Judd"] == pytest.approx(0.5)
    for other in (uniform, noise):
        assert perfect["NSS"] > other["NSS"]
        assert perfect["CC"] > other["CC"]
        assert perfect["SIM"] > other["SIM"]
        assert perfect["KLD"] < other["KLD"]
        assert perfect["AUC-Judd"] > other["AUC-Judd"]


def test_fixation_pixels_round_to_nearest_centre_and_drop_outside(sal):
    rows, cols = sal.fixation_pixels([[0.49, 0.51], [3.5, 1.2], [-0.6, 1.0], [9.4, 4.6]], (5, 10))
    assert cols.tolist() == [0, 4]
    assert rows.tolist() == [1, 1]


def test_nss_auc_without_fixations_are_nan(sal):
    assert np.isnan(sal.nss(np.ones((4, 4)), np.zeros((0, 2))))
    assert np.isnan(sal.auc_judd(np.ones((4, 4)), [[10.0, 10.0]]))


def test_shape_mismatch_is_an_error(sal):
    with pytest.raises(ValueError, match="differ in shape"):
        sal.cc(np.ones((3, 4)), np.ones((4, 3)))


# --------------------------------------------------------------------- map geometry


@pytest.mark.parametrize("original_hw", [(600, 800), (768, 512), (100, 1000), (480, 640)])
def test_map_to_original_follows_frame_transform(sal, original_hw):
    from attention_center.core.frames import frame_transform

    frame_hw, stride = (480, 640), 4
    transform = frame_transform(original_hw, frame_hw)
    map_h, map_w = frame_hw[0] // stride, frame_hw[1] // stride
    # A map linear in frame coordinates, sampled at its cell centres.
    cell_x = (np.arange(map_w) + 0.5) * stride - 0.5
    cell_y = (np.arange(map_h) + 0.5) * stride - 0.5
    weight_map = (0.3 * cell_x[None, :] + 0.7 * cell_y[:, None])[..., None]
    result = sal.map_to_original(weight_map, transform)
    assert result.shape == tuple(original_hw)
    xf, yf = transform.to_frame(
        np.arange(original_hw[1], dtype=float), np.arange(original_hw[0], dtype=float)
    )
    expected = (
        0.3 * np.clip(xf, cell_x[0], cell_x[-1])[None, :]
        + 0.7 * np.clip(yf, cell_y[0], cell_y[-1])[:, None]
    )
    np.testing.assert_allclose(result, expected, atol=1e-9)


def test_map_peak_lands_where_to_original_says(sal):
    from attention_center.core.frames import frame_transform

    transform = frame_transform((300, 1000), (480, 640))  # wide image: padding above and below
    weight_map = np.zeros((120, 160))
    weight_map[50, 30] = 1.0  # cell centre at frame ((30 + .5) * 4 - .5, (50 + .5) * 4 - .5)
    result = sal.map_to_original(weight_map, transform)
    y, x = np.unravel_index(np.argmax(result), result.shape)
    ex, ey = transform.to_original(30.5 * 4 - 0.5, 50.5 * 4 - 0.5)
    assert abs(x - ex) <= 1 and abs(y - ey) <= 1


# --------------------------------------------------------------------- centre metrics


def _pysaliency_values():
    """Run under pysaliency 0.2.22 (see the module docstring) to regenerate the reference."""
    import pysaliency
    import pysaliency.metrics as pm
    from pysaliency.saliency_map_models import SaliencyMapModel

    class Fixed(SaliencyMapModel):
        def __init__(self, saliency_map):
            super().__init__(caching=False)
            self.saliency_map_array = saliency_map

        def _saliency_map(self, stimulus):
            return self.saliency_map_array

    values = {}
    for name, s, fx, g in reference_cases():
        stimuli = pysaliency.Stimuli([np.zeros(s.shape + (3,))])
        fixations = pysaliency.Fixations.create_without_history(
            fx[:, 0].astype(float), fx[:, 1].astype(float), np.zeros(len(fx), dtype=int)
        )
        model = Fixed(s)
        nss = float(np.mean(pm.NSS(s, fx[:, 0], fx[:, 1])))
        assert nss == float(np.mean(model.NSSs(stimuli, fixations)))
        values[name] = {
            "NSS": nss,
            "CC": float(pm.CC(s, g)),
            "KLD": float(pm.MIT_KLDiv(s, g)),
            "SIM": float(pm.SIM(s, g)),
            "AUC-Judd": float(model.AUC_Judd(stimuli, fixations, jitter=False)),
        }
    return values


if __name__ == "__main__":
    import pprint

    pprint.pprint(_pysaliency_values(), sort_dicts=False)
