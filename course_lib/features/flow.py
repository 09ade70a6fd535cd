"""Dense optical flow between video frames (Farneback 2003) and its colour-wheel picture.

Optical flow gives every pixel a displacement ``(dx, dy)`` from one frame to the next:
the motion a video model would otherwise have to discover from raw pixels. Farneback's
method fits a quadratic polynomial to each pixel's neighbourhood in both frames and
solves for the shift between the two polynomials, coarse to fine over an image pyramid.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
from tqdm.auto import tqdm


def _frames_to_uint8(frames: np.ndarray | torch.Tensor) -> np.ndarray:
    """``(T, H, W)`` uint8, or float in [0, 1] (NumPy or torch) -> ``(T, H, W)`` uint8 NumPy."""
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu().numpy()
    frames = np.asarray(frames)
    if frames.ndim != 3:
        raise ValueError(f"video frames must have shape (T, H, W) (grayscale), got {frames.shape}")
    if frames.shape[0] < 2:
        raise ValueError(f"optical flow needs at least 2 video frames, got {frames.shape[0]}")
    if frames.dtype == np.uint8:
        return frames
    if not np.issubdtype(frames.dtype, np.floating):
        raise TypeError(f"video frames must be uint8 or float in [0, 1], got dtype {frames.dtype}")
    if frames.min() < 0.0 or frames.max() > 1.0:
        raise ValueError(f"float video frames must lie in [0, 1], got [{frames.min():.3g}, {frames.max():.3g}]")
    return np.round(frames * 255.0).astype(np.uint8)


def farneback_flow(
    frames: np.ndarray | torch.Tensor,
    pyr_scale: float = 0.5,
    levels: int = 3,
    winsize: int = 15,
    iterations: int = 3,
    poly_n: int = 5,
    poly_sigma: float = 1.2,
) -> np.ndarray:
    """Dense optical flow between consecutive frames with ``cv2.calcOpticalFlowFarneback``.

    Args:
        frames: ``(T, H, W)`` grayscale video, uint8 or float in [0, 1] (NumPy or torch).
        pyr_scale: size ratio between pyramid levels (0.5: each level half the size).
        levels: pyramid levels, the original included; more levels follow larger motions.
        winsize: side of the averaging window; larger is more robust to noise but blurs
            the motion field.
        iterations: refinement passes at each pyramid level.
        poly_n: side of the neighbourhood fitted by each polynomial (5 or 7).
        poly_sigma: Gaussian smoothing of that fit (1.1 for ``poly_n=5``, 1.5 for 7 are
            OpenCV's advice).

    Returns:
        ``(T - 1, H, W, 2)`` float32 NumPy: ``flow[t, y, x] = (dx, dy)`` in pixels, such
        that ``frames[t][y, x]`` is found at ``frames[t + 1][y + dy, x + dx]``.
    """
    video = _frames_to_uint8(frames)
    flows = [
        cv2.calcOpticalFlowFarneback(
            video[t], video[t + 1], None, pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, 0
        )
        for t in range(len(video) - 1)
    ]
    return np.stack(flows).astype(np.float32, copy=False)


def flow_frames(clips: np.ndarray | torch.Tensor, progress: bool = False, **params: float) -> np.ndarray:
    """The flow of many clips, as 2-channel frames for a video model.

    Args:
        clips: ``(N, T, H, W)`` grayscale clips, uint8 or float in [0, 1] (NumPy or torch).
        progress: show a progress bar over the clips.
        params: keyword arguments of :func:`farneback_flow` (``winsize``, ``levels``, ...).

    Returns:
        ``(N, T - 1, 2, H, W)`` float32 NumPy: channel 0 is ``dx``, channel 1 is ``dy``
        (pixels per frame), in the frames-first layout of the course's video models.
    """
    if isinstance(clips, torch.Tensor):
        clips = clips.detach().cpu().numpy()
    if np.ndim(clips) != 4:
        raise ValueError(f"clips must have shape (N, T, H, W) (grayscale), got {np.shape(clips)}")
    flows = [farneback_flow(clip, **params) for clip in tqdm(clips, desc="optical flow", disable=not progress)]
    return np.stack(flows).transpose(0, 1, 4, 2, 3)


def flow_to_rgb(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Draw a flow field with the HSV colour wheel: ``(H, W, 2)`` -> ``(H, W, 3)`` uint8 RGB.

    The hue shows the direction of motion (red: right, chartreuse: down, cyan: left,
    violet: up; image coordinates, y pointing down), the brightness its speed: black
    is no motion, full brightness ``max_magnitude`` pixels or more (default: the
    largest speed in this field; pass one value to compare frames on one scale).
    """
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must have shape (H, W, 2), got {flow.shape}")
    magnitude, angle = cv2.cartToPolar(flow[..., 0], flow[..., 1], angleInDegrees=True)
    scale = float(magnitude.max()) if max_magnitude is None else float(max_magnitude)
    if scale < 0:
        raise ValueError(f"max_magnitude must be >= 0, got {max_magnitude}")
    hsv = np.empty((*flow.shape[:2], 3), dtype=np.uint8)
    hsv[..., 0] = np.round(angle / 2) % 180  # OpenCV stores hue as 0..179 (degrees / 2)
    hsv[..., 1] = 255
    hsv[..., 2] = np.round(255 * np.clip(magnitude / max(scale, 1e-12), 0, 1))
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
