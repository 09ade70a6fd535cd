"""Tests of the AV-Digits-Video generator, its motion patterns and its Dataset."""
import numpy as np
import pytest
import torch

from course_lib.data import av_digits_video as avv
from course_lib.data import speech
from course_lib.data.motion import MOTIONS, render_moving_digit, trajectory

needs_speech = pytest.mark.skipif(not speech.is_available(), reason="eSpeak NG is not installed")


def tiny_params(**changes):
    """A few clips with two voices and one speaking rate: quick to generate."""
    params = avv.default_params(fast=True)
    params.update(n_train=32, n_val=16, n_test=16, voices=[["en-us+m3", 40], ["en+f2", 60]], rates=[170])
    params.update(changes)
    return params


def clean_params(**changes):
    """No noise, distractors, clutter, flicker or blur: the digit and the word alone."""
    return tiny_params(
        blur=[0.0, 0.0], video_noise=[0.0, 0.0], distractor_prob=0.0, clutter_per_frame=0.0,
        flicker=0.0, snr_db=None, degraded_fraction=0.0, **changes,
    )


@pytest.fixture(scope="module")
def arrays():
    return avv.generate(tiny_params(), seed=0)


@pytest.fixture(scope="module")
def clean():
    return avv.generate(clean_params(), seed=0)


def centre_of_mass(frames: np.ndarray) -> np.ndarray:
    """(T, 2) intensity-weighted (x, y) centre of each frame of (T, H, W)."""
    weights = frames.astype(np.float64)
    ys, xs = np.mgrid[: frames.shape[1], : frames.shape[2]]
    total = weights.sum(axis=(1, 2))
    x, y = (weights * xs).sum(axis=(1, 2)) / total, (weights * ys).sum(axis=(1, 2)) / total
    return np.stack([x, y], axis=1)


# ---- motion patterns and the renderer ----

@pytest.mark.parametrize("pattern", MOTIONS)
def test_trajectory_stays_in_range(pattern):
    rng = np.random.default_rng(0)
    for _ in range(50):
        path = trajectory(pattern, 16, 7.0, 25.0, rng)
        assert path.shape == (16, 2)
        assert path.min() >= 7.0 - 1e-9 and path.max() <= 25.0 + 1e-9


def test_trajectory_rejects_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown motion pattern 'spiral'"):
        trajectory("spiral", 16, 7.0, 25.0, rng)
    with pytest.raises(ValueError, match="frames must be at least 2"):
        trajectory("circle", 1, 7.0, 25.0, rng)


def test_renderer_puts_the_digit_centre_on_the_path():
    square = np.zeros((28, 28), np.uint8)
    square[10:18, 10:18] = 255  # centre at 13.5, the middle of the 28x28 image
    path = np.array([[10.0, 12.0], [10.5, 12.25], [20.0, 8.0]])
    clip = render_moving_digit(square, path, size=32, digit_size=20)
    assert clip.shape == (3, 32, 32) and clip.dtype == np.float32
    np.testing.assert_allclose(centre_of_mass(clip), path, atol=0.05)


# ---- the generator ----

@needs_speech
def test_same_seed_gives_identical_bytes_and_another_seed_differs(arrays):
    again = avv.generate(tiny_params(), seed=0)
    assert again.keys() == arrays.keys()
    for key in arrays:
        assert again[key].dtype == arrays[key].dtype
        assert again[key].tobytes() == arrays[key].tobytes(), key
    other = avv.generate(tiny_params(), seed=1)
    assert other["video"].tobytes() != arrays["video"].tobytes()
    assert other["audio"].tobytes() != arrays["audio"].tobytes()


@needs_speech
def test_shapes_dtypes_and_ranges(arrays):
    params = tiny_params()
    n, frames, size = 64, params["frames"], params["size"]
    samples = frames // params["fps"] * params["sample_rate"]
    assert arrays["video"].shape == (n, frames, size, size) and arrays["video"].dtype == np.uint8
    assert arrays["audio"].shape == (n, samples) and arrays["audio"].dtype == np.int16
    assert arrays["position"].shape == (n, frames, 2)
    for key, classes in (("digit", 10), ("motion", len(MOTIONS)), ("voice", 2)):
        assert arrays[key].dtype == np.int64
        assert set(np.unique(arrays[key])) <= set(range(classes))
    assert arrays["video"].max() > 200 and arrays["video"].min() == 0
    assert 0.5 < np.abs(arrays["audio"]).max() / 32768 <= 0.9 + 1e-4
    assert np.all((arrays["onset_frame"] >= 0) & (arrays["onset_frame"] < frames))


@needs_speech
def test_centre_of_mass_follows_the_labelled_motion(clean):
    com = np.stack([centre_of_mass(clip) for clip in clean["video"]])  # (N, T, 2)
    offset = com - clean["position"]  # constant in time: where the ink sits in its MNIST image
    assert np.abs(offset - offset.mean(axis=1, keepdims=True)).max() < 0.35
    assert np.abs(offset).max() < 1.0
    for path, motion in zip(com, clean["motion"]):
        step = path[-1] - path[0]
        x, y = path[:, 0], path[:, 1]
        name = MOTIONS[motion]
        if name == "left_to_right":
            assert step[0] > 8 and np.all(np.diff(x) > 0) and np.ptp(y) < 1
        elif name == "right_to_left":
            assert step[0] < -8 and np.all(np.diff(x) < 0) and np.ptp(y) < 1
        elif name == "top_to_bottom":
            assert step[1] > 8 and np.all(np.diff(y) > 0) and np.ptp(x) < 1
        elif name == "bottom_to_top":
            assert step[1] < -8 and np.all(np.diff(y) < 0) and np.ptp(x) < 1
        elif name == "diagonal":
            assert step[0] > 8 and abs(step[0] - step[1]) < 1
        elif name == "circle":
            radius = np.linalg.norm(path - path.mean(axis=0), axis=1)
            assert radius.min() > 3 and np.ptp(radius) < 0.5 * radius.mean()
        elif name == "zigzag":
            turns = np.sum(np.diff(np.sign(np.diff(y))) != 0)
            assert abs(step[0]) > 8 and turns >= 3 and np.ptp(y) > 5
        else:
            assert np.ptp(path, axis=0).max() < 1.5


@needs_speech
def test_onset_lies_in_the_clip_and_the_word_is_heard_and_seen_there(clean):
    params = clean_params()
    sr, fps = params["sample_rate"], params["fps"]
    duration = params["frames"] / fps
    assert np.all(clean["onset"] >= 0)
    assert np.all(clean["onset"] + clean["speech_duration"] <= duration + 1e-6)
    words = zip(clean["audio"], clean["video"], clean["onset"], clean["speech_duration"])
    for audio, video, onset, length in words:
        start, stop = round(onset * sr), round((onset + length) * sr)
        wave = audio.astype(np.float64)
        assert np.abs(wave[start : start + sr // 50]).max() > 0.01 * np.abs(wave).max()  # loud right at the onset
        assert np.all(wave[:start] == 0) and np.all(wave[stop:] == 0)  # silent elsewhere (no noise here)
        spoken = (np.arange(params["frames"]) + 1) / fps > onset
        spoken &= np.arange(params["frames"]) / fps < onset + length
        brightness = video.reshape(len(video), -1).max(axis=1)
        assert brightness[spoken].max() > brightness[~spoken].max() + 50  # the digit lights up


@needs_speech
def test_labels_are_balanced_within_each_split(arrays):
    for split in range(3):
        rows = arrays["split"] == split
        for key, classes in (("digit", 10), ("motion", len(MOTIONS)), ("voice", 2)):
            counts = np.bincount(arrays[key][rows], minlength=classes)
            assert counts.max() - counts.min() <= 1, (split, key, counts)


@needs_speech
def test_some_clips_degrade_the_video_as_many_the_audio_and_none_both(arrays):
    params = tiny_params()
    for split, count in enumerate((32, 16, 16)):
        counts = np.bincount(arrays["degraded"][arrays["split"] == split], minlength=3)
        k = round(count * params["degraded_fraction"])
        np.testing.assert_array_equal(counts, [count - 2 * k, k, k])
    video, audio, neither = (arrays["degraded"] == k for k in (1, 2, 0))
    low, high = params["degraded_blur"]
    assert np.all((arrays["blur"][video] >= low) & (arrays["blur"][video] <= high))
    assert np.all(arrays["blur"][~video] <= params["blur"][1])
    low, high = params["degraded_snr_db"]
    assert np.all((arrays["snr_db"][audio] >= low) & (arrays["snr_db"][audio] <= high))
    assert np.all(arrays["snr_db"][~audio] >= params["snr_db"][0])
    assert neither.sum() > 0 and np.all(arrays["degraded"] <= 2)


@needs_speech
def test_no_mnist_image_appears_in_two_splits(arrays):
    used = []
    for split in range(3):
        rows = arrays["split"] == split
        images = set(arrays["image_index"][rows]) | set(arrays["distractor_index"][rows]) - {-1}
        assert len(set(arrays["image_index"][rows])) == rows.sum()  # each clip its own digit image
        used.append(images)
    assert not used[0] & used[1] and not used[0] & used[2] and not used[1] & used[2]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"motions": ["left_to_right", "spiral"]}, "unknown motion pattern"),
        ({"frames": 1}, "frames must be at least 2"),
        ({"n_val": 0}, "n_val must be at least 1"),
        ({"video_noise": [0.3, 0.1]}, "video_noise must be a range"),
        ({"degraded_fraction": 0.6}, "degraded_fraction must be in"),
        ({"digit_size": 40}, "digit_size must be in"),
        ({"n_train": 4990}, "needs more images of a digit"),
    ],
)
def test_bad_parameters_raise_clear_errors(changes, message):
    with pytest.raises(ValueError, match=message):
        avv.generate(tiny_params(**changes), seed=0)


def test_unknown_parameter_is_named():
    with pytest.raises(ValueError, match="unknown \\['colour'\\]"):
        avv.generate({**tiny_params(), "colour": "red"}, seed=0)


def test_speech_brightness_follows_the_word():
    light = avv.speech_brightness(onset=0.25, duration=0.3, frames=8, fps=8, silent=0.5)
    np.testing.assert_allclose(light, [0.5, 0.5, 1.0, 1.0, 0.5 + 0.5 * 0.4, 0.5, 0.5, 0.5], atol=1e-6)


# ---- the Dataset ----

@needs_speech
def test_dataset_items(arrays):
    data = avv.AVDigitsVideo("val", arrays=arrays)
    assert len(data) == 16
    item = data[0]
    assert set(item) == {"video", "audio", "digit", "motion", "voice", "onset", "degraded", "label"}
    assert item["video"].shape == (16, 1, 32, 32) and item["video"].dtype == torch.float32
    assert 0 <= item["video"].min() and item["video"].max() <= 1
    assert item["audio"].shape == (16000,) and item["audio"].dtype == torch.float32
    assert item["digit"].dtype == torch.int64 and item["label"] == item["digit"]
    rows = np.flatnonzero(arrays["split"] == 1)
    assert item["digit"] == arrays["digit"][rows[0]]
    np.testing.assert_array_equal(item["video"][:, 0].numpy(), arrays["video"][rows[0]] / np.float32(255))


@needs_speech
def test_registry_and_dataloader_give_batches(arrays):
    from torch.utils.data import DataLoader

    from course_lib.data import get_dataset, pad_collate

    data = get_dataset("av_digits_video", "train", arrays=arrays, pairing="synchrony")
    batch = next(iter(DataLoader(data, batch_size=8, collate_fn=pad_collate)))
    assert batch["video"].shape == (8, 16, 1, 32, 32) and batch["audio"].shape == (8, 16000)
    assert batch["sync"].tolist() == [1, 0, 1, 0, 1, 0, 1, 0]


@needs_speech
def test_dataset_applies_transforms_per_modality(arrays):
    transforms = {"video": lambda v: v.flip(-1), "audio": lambda a: -a}
    flip = avv.AVDigitsVideo("train", arrays=arrays, transforms=transforms)
    plain = avv.AVDigitsVideo("train", arrays=arrays)
    assert torch.equal(flip[3]["video"], plain[3]["video"].flip(-1))
    assert torch.equal(flip[3]["audio"], -plain[3]["audio"])


@needs_speech
def test_synchrony_pairs_are_balanced_and_mismatched_ones_really_mismatch(arrays):
    matched = avv.AVDigitsVideo("train", arrays=arrays)
    pairs = avv.AVDigitsVideo("train", arrays=arrays, pairing="synchrony")
    assert len(pairs) == 2 * len(matched)
    items = [pairs[i] for i in range(len(pairs))]
    sync = np.array([int(item["sync"]) for item in items])
    assert sync.sum() == len(matched)  # half matched, half mismatched
    for i, item in enumerate(items):
        own = matched[i // 2]
        assert torch.equal(item["video"], own["video"]) and item["digit"] == own["digit"]
        if item["sync"] == 1:
            assert torch.equal(item["audio"], own["audio"]) and item["offset"] == 0
        else:
            assert not torch.equal(item["audio"], own["audio"])
            assert abs(float(item["offset"])) >= avv.SYNC_MIN_SHIFT


@needs_speech
def test_dataset_rejects_unknown_split_pairing_and_transform_key(arrays):
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        avv.AVDigitsVideo("dev", arrays=arrays)
    with pytest.raises(ValueError, match="unknown pairing 'shuffled'"):
        avv.AVDigitsVideo("train", arrays=arrays, pairing="shuffled")
    with pytest.raises(ValueError, match="'image'"):
        avv.AVDigitsVideo("train", arrays=arrays, transforms={"image": lambda x: x})


@needs_speech
def test_load_arrays_caches_under_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    params = tiny_params(n_train=10, n_val=10, n_test=10)
    monkeypatch.setattr(avv, "default_params", lambda fast: params)
    first = avv.load_arrays(fast=True)
    assert (tmp_path / avv.NAME / "fast" / "manifest.json").is_file()
    monkeypatch.setattr(avv, "generate", lambda params, seed: pytest.fail("the cache was not used"))
    second = avv.load_arrays(fast=True)
    assert second["video"].tobytes() == first["video"].tobytes()
    assert len(avv.AVDigitsVideo("test", fast=True)) == 10
