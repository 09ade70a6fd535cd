import cv2
import numpy as np
import pytest
from skimage.feature import local_binary_pattern

from course_lib.features.image import (
    BagOfVisualWords,
    lbp_bins,
    lbp_codes,
    lbp_histogram,
    sift_descriptors,
    to_uint8_gray,
)


def textured_image(size: int, seed: int) -> np.ndarray:
    """A blurred random pattern with blobs and corners, (size, size) uint8."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((size // 6 + 1, size // 6 + 1))
    image = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_NEAREST)
    image = cv2.GaussianBlur(image, (0, 0), 1.0)
    return np.round(255 * (image - image.min()) / np.ptp(image)).astype(np.uint8)


@pytest.mark.parametrize("P,R,method", [(8, 1, "uniform"), (16, 2, "uniform"), (8, 1, "nri_uniform"), (8, 1.5, "default")])
def test_lbp_histogram_equals_histogram_of_skimage_codes(P, R, method):
    image = textured_image(40, seed=0)
    hist = lbp_histogram(image, P=P, R=R, method=method)
    r = int(np.ceil(R))
    codes = local_binary_pattern(image, P, R, method=method)[r:-r, r:-r]
    n_bins = {"uniform": P + 2, "nri_uniform": P * (P - 1) + 3, "default": 2**P}[method]
    counts, _ = np.histogram(codes, bins=n_bins, range=(0, n_bins))
    assert hist.shape == (n_bins,)
    np.testing.assert_allclose(hist, counts / counts.sum())
    assert hist.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("value", [0, 90, 255])
def test_lbp_of_a_constant_image_is_one_bin(value):
    hist = lbp_histogram(np.full((20, 20), value, dtype=np.uint8), P=8, R=1)
    expected = np.zeros(10)
    expected[8] = 1.0  # every neighbour >= the centre: the uniform code P
    np.testing.assert_array_equal(hist, expected)


def test_lbp_float_and_rgb_images_match_their_uint8_gray():
    image = textured_image(30, seed=1)
    np.testing.assert_array_equal(lbp_histogram(image / 255.0), lbp_histogram(image))
    rgb = np.repeat(image[:, :, None], 3, axis=2)
    np.testing.assert_array_equal(lbp_histogram(rgb), lbp_histogram(image))


@pytest.mark.parametrize(
    "image,kwargs,match",
    [
        (np.zeros((10, 10), np.uint8), {"method": "var"}, "method"),
        (np.zeros((10, 10), np.uint8), {"P": 0}, "P >= 1"),
        (np.zeros((2, 2), np.uint8), {}, "too small"),
        (np.zeros((10, 10, 4), np.uint8), {}, r"\(H, W\)"),
        (np.full((10, 10), 2.0), {}, r"\[0, 1\]"),
        (np.zeros((10, 10), np.int32), {}, "dtype int32"),
    ],
)
def test_lbp_bad_input_raises(image, kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        lbp_histogram(image, **kwargs)


@pytest.mark.parametrize("P,R,method", [(8, 1, "uniform"), (8, 2, "nri_uniform"), (8, 1, "ror"), (16, 2, "default")])
def test_lbp_codes_are_skimage_codes_without_the_border(P, R, method):
    image = textured_image(33, seed=4)
    codes = lbp_codes(image, P=P, R=R, method=method)
    r = int(np.ceil(R))
    expected = local_binary_pattern(image, P, R, method=method)[r:-r, r:-r]
    assert codes.shape == (33 - 2 * r, 33 - 2 * r) and codes.dtype == np.int64
    np.testing.assert_array_equal(codes, expected)
    assert 0 <= codes.min() and codes.max() < lbp_bins(P, method)


@pytest.mark.parametrize("P,method,bins", [(8, "uniform", 10), (8, "nri_uniform", 59), (8, "ror", 256), (4, "default", 16)])
def test_lbp_bins(P, method, bins):
    assert lbp_bins(P, method) == bins
    assert len(lbp_histogram(textured_image(20, seed=0), P=P, R=1, method=method)) == bins


@pytest.mark.parametrize("grid", [(2, 3), (4, 4), (1, 5)])
def test_lbp_grid_histogram_is_one_histogram_per_cell(grid):
    image = textured_image(30, seed=5)
    codes = lbp_codes(image, method="nri_uniform")
    expected = []
    for band in np.array_split(codes, grid[0], axis=0):
        for cell in np.array_split(band, grid[1], axis=1):
            counts, _ = np.histogram(cell, bins=59, range=(0, 59))
            expected.append(counts / counts.sum())
    hist = lbp_histogram(image, method="nri_uniform", grid=grid)
    assert hist.shape == (grid[0] * grid[1] * 59,)
    np.testing.assert_allclose(hist, np.concatenate(expected))
    np.testing.assert_allclose(hist.reshape(-1, 59).sum(axis=1), 1.0)


def test_lbp_grid_of_one_cell_is_the_whole_image_histogram():
    image = textured_image(30, seed=6)
    np.testing.assert_array_equal(lbp_histogram(image, grid=1), lbp_histogram(image))
    np.testing.assert_array_equal(lbp_histogram(image, grid=3), lbp_histogram(image, grid=(3, 3)))


def test_uniform_lbp_histogram_ignores_quarter_turns_and_nri_does_not():
    image = textured_image(40, seed=7)
    for k in (1, 2, 3):
        np.testing.assert_array_equal(lbp_histogram(np.rot90(image, k)), lbp_histogram(image))
    turned = lbp_histogram(np.rot90(image), method="nri_uniform")
    assert not np.array_equal(turned, lbp_histogram(image, method="nri_uniform"))


@pytest.mark.parametrize("grid,match", [(0, "grid"), ((2, 0), "grid"), ((2.0, 2), "grid"), (40, "cannot be split")])
def test_lbp_bad_grid_raises(grid, match):
    with pytest.raises(ValueError, match=match):
        lbp_histogram(textured_image(30, seed=0), grid=grid)


@pytest.mark.parametrize("size", [28, 75])
def test_sift_descriptors_on_small_images(size):
    image = textured_image(size, seed=2)
    d = sift_descriptors(image)
    assert d.dtype == np.float32 and d.ndim == 2 and d.shape[1] == 128
    assert len(d) > 0
    np.testing.assert_array_equal(d, cv2.SIFT_create().detectAndCompute(image, None)[1])
    enlarged = cv2.resize(image, (3 * size, 3 * size), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(sift_descriptors(image, upscale=3), sift_descriptors(enlarged))


def test_sift_on_a_blank_image_gives_no_descriptors():
    d = sift_descriptors(np.zeros((28, 28), np.uint8))
    assert d.shape == (0, 128) and d.dtype == np.float32


def test_sift_accepts_float_and_rgb():
    image = textured_image(75, seed=3)
    expected = sift_descriptors(image)
    np.testing.assert_array_equal(sift_descriptors(image / 255.0), expected)
    np.testing.assert_array_equal(sift_descriptors(np.repeat(image[:, :, None], 3, axis=2)), expected)
    with pytest.raises(ValueError, match="upscale"):
        sift_descriptors(image, upscale=0)


def random_descriptor_sets(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.random((5, 16)) * 10
    return [centres[rng.integers(0, 5, n)] + rng.normal(0, 0.3, (n, 16)) for n in rng.integers(5, 30, 12)]


def test_bag_of_visual_words_histograms():
    sets = random_descriptor_sets()
    bovw = BagOfVisualWords(n_words=5, seed=0).fit(sets)
    hist = bovw.transform(sets)
    assert hist.shape == (12, 5) and hist.dtype == np.float32
    np.testing.assert_allclose(hist.sum(axis=1), 1.0, rtol=1e-6)
    for row, d in zip(hist, sets):
        words = bovw.kmeans.predict(d.astype(np.float32))
        np.testing.assert_allclose(row, np.bincount(words, minlength=5) / len(d), rtol=1e-6)


def test_bag_of_visual_words_is_deterministic_under_a_seed():
    sets = random_descriptor_sets()
    a = BagOfVisualWords(n_words=8, seed=3).fit_transform(sets)
    b = BagOfVisualWords(n_words=8, seed=3).fit_transform(sets)
    np.testing.assert_array_equal(a, b)


def test_bag_of_visual_words_on_sift_with_an_empty_image():
    images = [textured_image(75, seed=s) for s in range(4)] + [np.zeros((75, 75), np.uint8)]
    descriptors = [sift_descriptors(img) for img in images]
    hist = BagOfVisualWords(n_words=4, seed=0).fit_transform(descriptors)
    assert hist.shape == (5, 4)
    np.testing.assert_allclose(hist[:4].sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(hist[4], 0.0)


def test_bag_of_visual_words_bad_input():
    sets = random_descriptor_sets()
    with pytest.raises(RuntimeError, match="fit"):
        BagOfVisualWords(n_words=4).transform(sets)
    with pytest.raises(ValueError, match="n_words"):
        BagOfVisualWords(n_words=1)
    with pytest.raises(ValueError, match="at least n_words"):
        BagOfVisualWords(n_words=50).fit(sets[:1])
    with pytest.raises(TypeError, match="list"):
        BagOfVisualWords(n_words=4).fit(np.concatenate(sets))
    bovw = BagOfVisualWords(n_words=4).fit(sets)
    with pytest.raises(ValueError, match=r"descriptors\[1\] must have shape \(N, 16\)"):
        bovw.transform([sets[0], np.zeros((3, 128))])


def test_to_uint8_gray_converts_rgb_with_the_itu_r_601_weights():
    rgb = np.random.default_rng(0).integers(0, 256, size=(5, 6, 3), dtype=np.uint8)
    gray = to_uint8_gray(rgb)
    assert gray.shape == (5, 6) and gray.dtype == np.uint8
    expected = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])  # luma Y' of ITU-R BT.601
    np.testing.assert_allclose(gray, expected, atol=0.51)  # rounded to an integer
    np.testing.assert_array_equal(to_uint8_gray(rgb / 255.0), gray)
