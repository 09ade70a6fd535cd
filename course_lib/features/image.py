"""Classical image features: LBP texture histograms, SIFT descriptors, bag of visual words.

Images are NumPy arrays: grayscale ``(H, W)`` or RGB ``(H, W, 3)``, either ``uint8``
(0..255) or float in [0, 1]. Each function returns NumPy arrays, ready for
scikit-learn or ``torch.from_numpy``.
"""
from __future__ import annotations

import cv2
import numpy as np
from skimage.feature import local_binary_pattern
from sklearn.cluster import MiniBatchKMeans
from threadpoolctl import threadpool_limits

#: Number of histogram bins of each scikit-image LBP method, as a function of P.
_LBP_BINS = {
    "default": lambda p: 2**p,
    "ror": lambda p: 2**p,
    "uniform": lambda p: p + 2,
    "nri_uniform": lambda p: p * (p - 1) + 3,
}


def to_uint8_gray(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` or ``(H, W, 3)`` RGB, uint8 or float in [0, 1] -> ``(H, W)`` uint8."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(_to_uint8(image), cv2.COLOR_RGB2GRAY)
    if image.ndim != 2:
        raise ValueError(f"image must have shape (H, W) or (H, W, 3), got {image.shape}")
    return _to_uint8(image)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """uint8 stays as is; float in [0, 1] is scaled to 0..255 and rounded."""
    if image.dtype == np.uint8:
        return image
    if not np.issubdtype(image.dtype, np.floating):
        raise TypeError(f"image must be uint8 or float in [0, 1], got dtype {image.dtype}")
    if image.size and (image.min() < 0.0 or image.max() > 1.0):
        raise ValueError(
            f"a float image must lie in [0, 1], got values in [{image.min():.3g}, {image.max():.3g}]"
        )
    return np.round(image * 255.0).astype(np.uint8)


def lbp_codes(image: np.ndarray, P: int = 8, R: float = 1, method: str = "uniform") -> np.ndarray:
    """The local binary pattern code of every pixel (Ojala et al. 2002), border left out.

    Each pixel is compared with ``P`` neighbours on a circle of radius ``R`` (bilinear
    interpolation between pixels); neighbour ``i`` sets bit ``i`` when it is at least as
    bright as the centre (``skimage.feature.local_binary_pattern``). ``method`` maps the
    ``P`` bits to a code:

    - ``"default"``: the bits as a binary number, ``0 .. 2**P - 1``;
    - ``"ror"``: the smallest number among the bits' rotations (rotation invariant);
    - ``"uniform"``: ``0 .. P`` counts the neighbours at least as bright as the centre,
      for patterns with at most two 0/1 transitions around the circle (edges, corners,
      spots, flat areas); ``P + 1`` collects all other patterns (rotation invariant);
    - ``"nri_uniform"``: each rotation of a uniform pattern gets its own code
      (``P * (P - 1) + 2`` of them) and ``P * (P - 1) + 2`` collects the rest.

    Pixels within ``ceil(R)`` of the border are left out: skimage compares them with
    zero padding, which would count the frame of the image as an edge.

    Args:
        image: ``(H, W)`` or ``(H, W, 3)``, uint8 or float in [0, 1] (converted to uint8:
            skimage warns that float codes are unstable under rounding).
        P: number of neighbours.
        R: radius of the circle, in pixels.
        method: ``"uniform"``, ``"nri_uniform"``, ``"ror"`` or ``"default"``.

    Returns:
        ``(H - 2 * ceil(R), W - 2 * ceil(R))`` int64 codes in ``0 .. lbp_bins(P, method) - 1``.
    """
    if method not in _LBP_BINS:
        raise ValueError(f"LBP method must be one of {sorted(_LBP_BINS)}, got {method!r}")
    if not isinstance(P, int) or P < 1 or R <= 0:
        raise ValueError(f"LBP needs an int P >= 1 and R > 0, got P={P!r}, R={R!r}")
    gray = to_uint8_gray(image)
    border = int(np.ceil(R))
    if min(gray.shape) <= 2 * border:
        raise ValueError(f"image of shape {gray.shape} is too small for LBP radius R={R}")
    codes = local_binary_pattern(gray, P, R, method=method)[border:-border, border:-border]
    return codes.astype(np.int64)


def lbp_bins(P: int, method: str = "uniform") -> int:
    """Number of distinct codes of an LBP ``method`` with ``P`` neighbours."""
    if method not in _LBP_BINS:
        raise ValueError(f"LBP method must be one of {sorted(_LBP_BINS)}, got {method!r}")
    return _LBP_BINS[method](P)


def lbp_histogram(
    image: np.ndarray,
    P: int = 8,
    R: float = 1,
    method: str = "uniform",
    grid: int | tuple[int, int] = 1,
) -> np.ndarray:
    """Normalized histogram(s) of local binary pattern codes (see :func:`lbp_codes`).

    One histogram of the whole image is a texture descriptor that ignores where each
    pattern occurs. ``grid=(rows, cols)`` splits the code image into that many cells
    (as equal as ``np.array_split`` makes them) and concatenates one histogram per
    cell, row by row, which keeps a coarse layout (Ahonen et al. 2006).

    Args:
        image: ``(H, W)`` or ``(H, W, 3)``, uint8 or float in [0, 1].
        P, R, method: as in :func:`lbp_codes`.
        grid: number of cells, ``n`` for ``(n, n)`` or ``(rows, cols)``.

    Returns:
        ``(rows * cols * n_bins,)`` float64; each cell's histogram sums to 1. ``n_bins``
        is ``P + 2`` for ``"uniform"``, ``P * (P - 1) + 3`` for ``"nri_uniform"``,
        ``2**P`` otherwise.
    """
    rows, cols = (grid, grid) if isinstance(grid, int) else tuple(grid)
    if not all(isinstance(n, int) and n >= 1 for n in (rows, cols)):
        raise ValueError(f"grid must be an int >= 1 or a (rows, cols) pair of them, got {grid!r}")
    codes = lbp_codes(image, P, R, method)
    if codes.shape[0] < rows or codes.shape[1] < cols:
        raise ValueError(f"a {codes.shape} code image cannot be split into a {rows}x{cols} grid")
    n_bins = lbp_bins(P, method)
    row_cell = np.repeat(np.arange(rows), [len(a) for a in np.array_split(np.arange(codes.shape[0]), rows)])
    col_cell = np.repeat(np.arange(cols), [len(a) for a in np.array_split(np.arange(codes.shape[1]), cols)])
    cell = row_cell[:, None] * cols + col_cell[None, :]  # (H', W') cell index of every pixel
    counts = np.bincount((cell * n_bins + codes).ravel(), minlength=rows * cols * n_bins)
    counts = counts.reshape(rows * cols, n_bins)
    return (counts / counts.sum(axis=1, keepdims=True)).ravel()


def sift_descriptors(image: np.ndarray, upscale: int = 1) -> np.ndarray:
    """SIFT descriptors (Lowe 2004) of one image with ``cv2.SIFT_create``.

    SIFT finds blob-like keypoints over scales and describes each by a 4x4 grid of
    8-bin gradient-orientation histograms: 128 numbers, invariant to shifts, scale and
    rotation. Small images give few keypoints (a 28x28 MNIST digit: about 10);
    ``upscale=3`` first enlarges the image with bilinear interpolation, which gives
    about twice as many on MNIST digits.

    Args:
        image: ``(H, W)`` or ``(H, W, 3)`` RGB, uint8 or float in [0, 1].
        upscale: integer factor to enlarge the image by before detection.

    Returns:
        ``(N, 128)`` float32, one row per keypoint; ``(0, 128)`` when none is found
        (e.g. a blank image).
    """
    if not isinstance(upscale, int) or upscale < 1:
        raise ValueError(f"upscale must be an int >= 1, got {upscale!r}")
    gray = to_uint8_gray(image)
    if upscale > 1:
        gray = cv2.resize(gray, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_LINEAR)
    _, descriptors = cv2.SIFT_create().detectAndCompute(gray, None)
    if descriptors is None:
        return np.zeros((0, 128), dtype=np.float32)
    return descriptors.astype(np.float32, copy=False)


class BagOfVisualWords:
    """Bag of visual words (Csurka et al. 2004): a histogram of descriptor clusters.

    ``fit`` clusters the descriptors of many images into ``n_words`` "visual words"
    with ``sklearn.cluster.MiniBatchKMeans``; ``transform`` assigns each descriptor of
    an image to its nearest word and returns the normalized word counts: one
    fixed-length vector per image, whatever its number of keypoints. k-means runs on
    one thread: on batches this small, more threads cost more than they save.

    Example::

        descriptors = [sift_descriptors(img, upscale=3) for img in images]
        bovw = BagOfVisualWords(n_words=64, seed=0).fit(descriptors)
        features = bovw.transform(descriptors)  # (n_images, 64)
    """

    def __init__(self, n_words: int = 64, seed: int = 0, batch_size: int = 1024) -> None:
        if not isinstance(n_words, int) or n_words < 2:
            raise ValueError(f"n_words must be an int >= 2, got {n_words!r}")
        self.n_words = n_words
        self.kmeans = MiniBatchKMeans(n_clusters=n_words, random_state=seed, batch_size=batch_size, n_init=3)
        self.dim: int | None = None

    def fit(self, descriptors: list[np.ndarray]) -> BagOfVisualWords:
        """Learn the vocabulary from a list of ``(N_i, D)`` arrays (one per image)."""
        stacked = np.concatenate(self._check(descriptors, dim=None))
        if len(stacked) < self.n_words:
            raise ValueError(f"need at least n_words = {self.n_words} descriptors to fit, got {len(stacked)}")
        with threadpool_limits(limits=1):
            self.kmeans.fit(stacked)
        self.dim = stacked.shape[1]
        return self

    def transform(self, descriptors: list[np.ndarray]) -> np.ndarray:
        """List of ``(N_i, D)`` arrays -> ``(n_images, n_words)`` float32 histograms.

        Each row sums to 1, except for an image without descriptors: all zeros.
        """
        if self.dim is None:
            raise RuntimeError("BagOfVisualWords must be fit before transform")
        histograms = np.zeros((len(descriptors), self.n_words), dtype=np.float32)
        with threadpool_limits(limits=1):
            for i, d in enumerate(self._check(descriptors, self.dim)):
                if len(d):
                    counts = np.bincount(self.kmeans.predict(d), minlength=self.n_words)
                    histograms[i] = counts / counts.sum()
        return histograms

    def fit_transform(self, descriptors: list[np.ndarray]) -> np.ndarray:
        """``fit`` then ``transform`` on the same list."""
        return self.fit(descriptors).transform(descriptors)

    @staticmethod
    def _check(descriptors: list[np.ndarray], dim: int | None) -> list[np.ndarray]:
        """Float32 ``(N_i, dim)`` arrays; ``dim=None`` takes D from the first non-empty one."""
        if isinstance(descriptors, np.ndarray) or not len(descriptors):
            raise TypeError("descriptors must be a non-empty list with one (N_i, D) array per image")
        checked = [np.asarray(d, dtype=np.float32) for d in descriptors]
        if dim is None:
            dim = next((d.shape[-1] for d in checked if d.ndim == 2 and len(d)), None)
            if dim is None:
                raise ValueError("descriptors hold no (N, D) array with N > 0 to learn visual words from")
        for i, d in enumerate(checked):
            if d.ndim != 2 or d.shape[1] != dim:
                raise ValueError(f"descriptors[{i}] must have shape (N, {dim}), got {d.shape}")
        return checked
