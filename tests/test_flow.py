import numpy as np
import pytest
import torch

from course_lib.features.flow import farneback_flow, flow_frames, flow_to_rgb


def smooth_texture(dx: float, dy: float, size: int = 64, seed: int = 0) -> np.ndarray:
    """A sum of low-frequency plane waves, sampled at (x - dx, y - dy): the texture moved by (dx, dy)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    image = np.zeros((size, size))
    for _ in range(12):
        fx, fy = rng.uniform(-0.25, 0.25, 2)
        image += np.cos(fx * (x - dx) + fy * (y - dy) + rng.uniform(0, 2 * np.pi))
    return image


def moving_video(shifts: list[tuple[float, float]]) -> np.ndarray:
    """(T, 64, 64) float frames in [0, 1]; frame t is the texture moved by shifts[t]."""
    frames = np.stack([smooth_texture(dx, dy) for dx, dy in shifts])
    return (frames - frames.min()) / (frames.max() - frames.min())


@pytest.mark.parametrize("dx,dy", [(1.5, -0.8), (-2.3, 0.4), (0.0, 0.0)])
def test_flow_of_a_shifted_texture_is_the_shift(dx, dy):
    flow = farneback_flow(moving_video([(0, 0), (dx, dy)]))
    assert flow.shape == (1, 64, 64, 2) and flow.dtype == np.float32
    inner = flow[0, 8:-8, 8:-8]
    assert np.median(inner[..., 0]) == pytest.approx(dx, abs=0.2)
    assert np.median(inner[..., 1]) == pytest.approx(dy, abs=0.2)


def test_flow_of_each_frame_pair_and_input_types():
    video = moving_video([(0, 0), (1, 0), (1, 1)])
    flow = farneback_flow(video)
    assert flow.shape == (2, 64, 64, 2)
    np.testing.assert_allclose(np.median(flow[:, 8:-8, 8:-8], axis=(1, 2)), [[1, 0], [0, 1]], atol=0.2)
    as_uint8 = np.round(video * 255).astype(np.uint8)
    np.testing.assert_array_equal(farneback_flow(as_uint8), flow)
    np.testing.assert_array_equal(farneback_flow(torch.from_numpy(video)), flow)


@pytest.mark.parametrize(
    "frames,match",
    [
        (np.zeros((2, 16, 16, 3), np.uint8), r"\(T, H, W\)"),
        (np.zeros((16, 16), np.uint8), r"\(T, H, W\)"),
        (np.zeros((1, 16, 16), np.uint8), "at least 2"),
        (np.full((2, 16, 16), 3.0), r"\[0, 1\]"),
        (np.zeros((2, 16, 16), np.int16), "dtype int16"),
    ],
)
def test_farneback_bad_input_raises(frames, match):
    with pytest.raises((TypeError, ValueError), match=match):
        farneback_flow(frames)


def test_flow_to_rgb_of_zero_flow_is_uniform_black():
    rgb = flow_to_rgb(np.zeros((8, 10, 2), np.float32))
    assert rgb.shape == (8, 10, 3) and rgb.dtype == np.uint8
    assert (rgb == 0).all()


def test_flow_to_rgb_colour_wheel():
    flow = np.array([[[2.0, 0.0], [0.0, -2.0], [-1.0, 0.0], [0.0, 0.0]]], np.float32)  # (1, 4, 2)
    rgb = flow_to_rgb(flow)
    np.testing.assert_array_equal(rgb[0, 0], [255, 0, 0])  # right: red, full speed
    np.testing.assert_array_equal(rgb[0, 1], [128, 0, 255])  # up: violet
    np.testing.assert_array_equal(rgb[0, 2], [0, 128, 128])  # left at half the top speed: dim cyan
    np.testing.assert_array_equal(rgb[0, 3], [0, 0, 0])
    assert flow_to_rgb(flow, max_magnitude=1.0)[0, 2].max() == 255


def test_flow_to_rgb_bad_shape():
    with pytest.raises(ValueError, match=r"\(H, W, 2\)"):
        flow_to_rgb(np.zeros((1, 8, 8, 2)))
    with pytest.raises(ValueError, match="max_magnitude"):
        flow_to_rgb(np.zeros((8, 8, 2)), max_magnitude=-1.0)


def test_flow_frames_of_many_clips():
    video = moving_video([(0, 0), (1, 0), (1, 1)])
    clips = np.stack([video, video[::-1]])  # (2, 3, 64, 64): the second clip plays backwards
    frames = flow_frames(clips, winsize=9)
    assert frames.shape == (2, 2, 2, 64, 64) and frames.dtype == np.float32
    np.testing.assert_array_equal(frames[0], farneback_flow(video, winsize=9).transpose(0, 3, 1, 2))
    inner = np.median(frames[:, :, :, 8:-8, 8:-8], axis=(3, 4))  # (clip, pair, (dx, dy))
    np.testing.assert_allclose(inner[0], [[1, 0], [0, 1]], atol=0.2)
    np.testing.assert_allclose(inner[1], [[0, -1], [-1, 0]], atol=0.2)
    np.testing.assert_array_equal(flow_frames(torch.from_numpy(clips), winsize=9), frames)


def test_flow_frames_bad_shape():
    with pytest.raises(ValueError, match=r"\(N, T, H, W\)"):
        flow_frames(np.zeros((3, 16, 16), np.uint8))
