"""Motion patterns and a renderer that moves a small image along them.

A trajectory is the (x, y) position of the moving object's centre in every frame::

    rng = np.random.default_rng(0)
    path = trajectory("circle", frames=16, low=7.0, high=25.0, rng=rng)   # (16, 2) float64
    clip = render_moving_digit(digit, path, size=32, digit_size=20)       # (16, 32, 32) float32

Each pattern has a random start, a random speed (or radius, or zig-zag amplitude) and stays
inside the square ``[low, high] x [low, high]``; x grows to the right and y grows downwards,
as in an image.
"""
from __future__ import annotations

import cv2
import numpy as np

#: The motion patterns; a clip's ``motion`` label is an index into this tuple.
MOTIONS: tuple[str, ...] = (
    "left_to_right",
    "right_to_left",
    "top_to_bottom",
    "bottom_to_top",
    "diagonal",
    "circle",
    "zigzag",
    "still",
)

_LINEAR = {  # unit direction (dx, dy) of the straight-line patterns
    "left_to_right": (1.0, 0.0),
    "right_to_left": (-1.0, 0.0),
    "top_to_bottom": (0.0, 1.0),
    "bottom_to_top": (0.0, -1.0),
    "diagonal": (1.0, 1.0),  # top-left to bottom-right
}


def trajectory(pattern: str, frames: int, low: float, high: float, rng: np.random.Generator) -> np.ndarray:
    """Centre positions of an object that follows ``pattern`` for ``frames`` frames.

    Args:
        pattern: one of :data:`MOTIONS`.
        frames: number of frames, at least 2.
        low, high: the centre stays inside ``[low, high]`` on both axes.
        rng: the source of the random start, speed and shape.

    Returns:
        float64 array of shape (frames, 2): column 0 is x (to the right), column 1 is y (down).
    """
    if pattern not in MOTIONS:
        raise ValueError(f"unknown motion pattern {pattern!r}; expected one of {MOTIONS}")
    if frames < 2:
        raise ValueError(f"frames must be at least 2 to show motion, got {frames}")
    if not high - low > 0:
        raise ValueError(f"need low < high for the motion range, got low={low}, high={high}")
    span = high - low
    t = np.linspace(0.0, 1.0, frames)  # time from the first to the last frame

    if pattern in _LINEAR:
        distance = span * rng.uniform(0.7, 1.0)  # speed jitter: 70% to 100% of the range
        axes = []
        for direction in _LINEAR[pattern]:
            if direction == 0:  # this axis does not move
                axes.append(np.full(frames, rng.uniform(low, high)))
            else:
                start = rng.uniform(low, high - distance)
                if direction < 0:
                    start = low + high - start
                axes.append(start + direction * distance * t)
        return np.stack(axes, axis=1)

    if pattern == "circle":
        radius = span * rng.uniform(0.3, 0.45)
        slack = span / 2 - radius
        centre = (low + high) / 2 + rng.uniform(-slack, slack, size=2)
        turn = 2 * np.pi * rng.uniform(0.75, 1.0) * rng.choice([-1.0, 1.0])  # a (near) full loop
        angle = rng.uniform(0, 2 * np.pi) + turn * t
        return np.stack([centre[0] + radius * np.cos(angle), centre[1] + radius * np.sin(angle)], axis=1)

    if pattern == "zigzag":
        amplitude = span * rng.uniform(0.25, 0.35)
        period = rng.uniform(4.0, 6.0)  # frames per up-and-down cycle
        distance = span * rng.uniform(0.7, 1.0)
        start = rng.uniform(low, high - distance)
        x = start + distance * t
        if rng.random() < 0.5:  # right to left as often as left to right
            x = low + high - x
        centre_y = rng.uniform(low + amplitude, high - amplitude)
        phase = (np.arange(frames) / period + rng.uniform(0, 1)) % 1.0
        triangle = 4 * np.abs(phase - 0.5) - 1  # in [-1, 1]
        return np.stack([x, centre_y + amplitude * triangle], axis=1)

    # "still": a fixed position with a small hand-held jitter
    centre = rng.uniform(low + 0.5, high - 0.5, size=2)
    return centre + rng.uniform(-0.5, 0.5, size=(frames, 2))


def render_moving_digit(
    digit: np.ndarray,
    path: np.ndarray,
    *,
    size: int,
    digit_size: int,
    intensity: np.ndarray | None = None,
) -> np.ndarray:
    """Draw ``digit`` centred on each point of ``path`` on a black square frame.

    The digit is resized once (area interpolation) and then shifted with sub-pixel accuracy
    (bilinear ``cv2.warpAffine``), so slow motion looks smooth.

    Args:
        digit: uint8 or float image of shape (h, w), white ink on black.
        path: (T, 2) centre positions (x, y) in pixels, as from :func:`trajectory`.
        size: side of the square frame in pixels.
        digit_size: side of the resized digit in pixels.
        intensity: optional (T,) brightness of the digit in each frame, in [0, 1].

    Returns:
        float32 array (T, size, size) in [0, 1].
    """
    if digit.ndim != 2:
        raise ValueError(f"digit must be a 2-D image (h, w), got shape {digit.shape}")
    if path.ndim != 2 or path.shape[1] != 2:
        raise ValueError(f"path must have shape (T, 2), got {path.shape}")
    frames = path.shape[0]
    if intensity is None:
        intensity = np.ones(frames, dtype=np.float32)
    if intensity.shape != (frames,):
        raise ValueError(f"intensity must have shape ({frames},), got {intensity.shape}")
    scale = 255.0 if digit.dtype == np.uint8 else 1.0
    sprite = cv2.resize(digit.astype(np.float32) / scale, (digit_size, digit_size), interpolation=cv2.INTER_AREA)
    # warpAffine maps sprite pixel (u, v) to frame pixel (u + tx, v + ty); pixel centres sit at
    # integer coordinates, so the sprite's centre is at (digit_size - 1) / 2.
    offset = (digit_size - 1) / 2
    clip = np.empty((frames, size, size), dtype=np.float32)
    for k, (x, y) in enumerate(path):
        shift = np.float32([[1, 0, x - offset], [0, 1, y - offset]])
        clip[k] = cv2.warpAffine(sprite, shift, (size, size), flags=cv2.INTER_LINEAR, borderValue=0.0)
        clip[k] *= intensity[k]
    return np.clip(clip, 0.0, 1.0, out=clip)
