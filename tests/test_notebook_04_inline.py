"""Notebook 04's hand-written LBP codes and bag-of-visual-words assignment agree with the libraries.

The cells tagged ``inline`` in ``04_image_features.ipynb`` define ``circle_neighbours``,
``lbp_codes_by_hand``, ``uniform_codes_by_hand`` and ``bovw_by_hand``. They must run on
their own; this test executes them and compares their results with scikit-image's
``local_binary_pattern``, ``course_lib.features.image.lbp_codes`` and ``BagOfVisualWords``.
"""
from __future__ import annotations

import numpy as np
import pytest
from skimage.feature import local_binary_pattern

from course_lib.data.mnist import load_mnist
from course_lib.features.image import BagOfVisualWords, lbp_codes

from notebook_cells import inline_fixture

inline = inline_fixture("04_image_features.ipynb")


def sample_images() -> list[np.ndarray]:
    """Three real digits, a random texture with many ties, a constant image and a 75x75 gradient."""
    digits, _ = load_mnist()
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 4, size=(20, 23)).astype(np.uint8) * 60
    ramp = np.add.outer(np.arange(75), 2 * np.arange(75)).astype(np.uint8)
    return [digits[0], digits[1234], digits[4999], texture, np.full((12, 12), 90, np.uint8), ramp]


@pytest.mark.parametrize("P,R", [(8, 1), (16, 2), (8, 1.5), (4, 1)])
def test_inline_codes_equal_skimage_default_codes(inline, P, R):
    for image in sample_images():
        mine = inline["lbp_codes_by_hand"](image, P=P, R=R)
        assert mine.shape == image.shape
        np.testing.assert_array_equal(mine, local_binary_pattern(image, P, R, method="default"))


@pytest.mark.parametrize("P,R", [(8, 1), (16, 2), (8, 1.5)])
def test_inline_uniform_codes_equal_skimage_and_course_lib(inline, P, R):
    border = int(np.ceil(R))
    for image in sample_images():
        uniform = inline["uniform_codes_by_hand"](inline["lbp_codes_by_hand"](image, P=P, R=R), P=P)
        np.testing.assert_array_equal(uniform, local_binary_pattern(image, P, R, method="uniform"))
        np.testing.assert_array_equal(uniform[border:-border, border:-border],
                                      lbp_codes(image, P=P, R=R, method="uniform"))


def test_inline_neighbours_of_one_patch(inline):
    patch = np.array([[0, 0, 0], [49, 158, 170], [253, 253, 253]], dtype=np.uint8)
    neighbours = inline["circle_neighbours"](patch)[:, 1, 1]
    # the four axis neighbours are pixels; the diagonals mix centre, edge and corner pixels
    np.testing.assert_array_equal(neighbours[[0, 2, 4, 6]], [170, 0, 49, 253])
    w = 1 - np.round(np.sqrt(0.5), 5)   # weight of the centre's row (and column) at a diagonal point
    expected_45 = (1 - w) * 0 + w * (w * 158 + (1 - w) * 170)   # top row is 0; centre row: 158, 170
    assert neighbours[1] == pytest.approx(expected_45)
    assert inline["lbp_codes_by_hand"](patch)[1, 1] == local_binary_pattern(patch, 8, 1)[1, 1] == 225


def test_inline_bovw_equals_bag_of_visual_words(inline):
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 5, (6, 16))
    sets = [(centres[rng.integers(0, 6, n)] + rng.normal(0, 1, (n, 16))).astype(np.float32)
            for n in (7, 12, 0, 30, 5)]
    bovw = BagOfVisualWords(n_words=6, seed=0).fit(sets)
    mine = inline["bovw_by_hand"](sets, bovw.kmeans.cluster_centers_)
    assert mine.shape == (5, 6)
    np.testing.assert_allclose(mine, bovw.transform(sets), atol=1e-6)
    np.testing.assert_array_equal(mine[2], 0.0)
