"""AV-Digits-Video: a handwritten digit moves through a short clip while a voice says it.

Every clip is ``frames`` grayscale frames (16 frames of 32x32 at 8 fps: 2 seconds) and an
audio track that covers the same 2 seconds (8 kHz):

* video: a real MNIST digit follows one of the :data:`~course_lib.data.motion.MOTIONS`
  patterns, with a smaller distractor digit of another class, flickering clutter strokes,
  brightness flicker and Gaussian pixel noise. The digit lights up while it is spoken (as a
  mouth moves while a person speaks), so audio and video share a visible moment in time.
* audio: the same digit spoken by one of several eSpeak NG voices at a random onset, in pink
  background noise at a random signal-to-noise ratio.
* degradation: in 15% of the clips the video is blurred until the digit's shape is
  lost (its motion stays visible), in another 15% the audio drowns in noise; never both.
  Each modality alone therefore misses some digits that the other one still shows.

Labels: ``digit`` (0-9, in both modalities), ``motion`` (video only), ``voice`` (audio only),
``onset`` (seconds; when the word starts) and ``degraded`` (0 none, 1 video, 2 audio). Clips
are split into train/val/test so that no MNIST image appears in two splits. Usage::

    from course_lib.data.av_digits_video import AVDigitsVideo
    train = AVDigitsVideo("train")                        # generated once, then cached
    item = train[0]                                       # {"video": (16, 1, 32, 32), "audio": (16000,), ...}
    sync = AVDigitsVideo("val", pairing="synchrony")      # matched and mismatched pairs, "sync" 1/0
"""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from course_lib import config
from course_lib.data import speech
from course_lib.data.cache import cached_arrays
from course_lib.data.mnist import load_mnist
from course_lib.data.motion import MOTIONS, render_moving_digit, trajectory

NAME = "av_digits_video"
VERSION = "1"
SEED = 2024

SPLITS: tuple[str, ...] = ("train", "val", "test")
WORDS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

#: eSpeak NG voices (language + variant) and base pitch (0-99); ``voice`` indexes this list.
VOICES: tuple[tuple[str, int], ...] = (
    ("en-us+m3", 40),
    ("en+f2", 60),
    ("en-gb-scotland+m1", 35),
    ("en-us+f4", 70),
    ("en-029+m4", 50),
    ("en-gb-x-rp+f3", 65),
)

#: What the ``degraded`` label means: which modality, if any, a clip has heavily corrupted.
DEGRADED: tuple[str, ...] = ("none", "video", "audio")

#: In synchrony mode a mismatched pair's audio starts at least this many seconds away from the video's word.
SYNC_MIN_SHIFT = 0.5


def default_params(fast: bool) -> dict[str, Any]:
    """Generator settings: 3,000 clips in full mode (2,000/500/500), 200 in fast mode (120/40/40)."""
    return {
        "n_train": 120 if fast else 2000,
        "n_val": 40 if fast else 500,
        "n_test": 40 if fast else 500,
        "frames": 16,
        "fps": 8,
        "size": 32,
        "digit_size": 20,
        "motions": list(MOTIONS),
        "voices": [list(voice) for voice in VOICES],
        "rates": [170] if fast else [140, 170, 200],  # words per minute: an utterance per voice, digit, rate
        "sample_rate": 8000,
        "silent_brightness": 0.55,  # digit brightness while it is not spoken (1.0 while spoken)
        "blur": [0.0, 0.8],  # range of the per-clip Gaussian blur (sigma, MNIST pixels) of the digit
        "video_noise": [0.03, 0.2],  # range of the per-clip pixel noise standard deviation
        "distractor_prob": 0.8,
        "distractor_size": 12,
        "clutter_per_frame": 0.7,  # mean number of clutter strokes drawn in each frame
        "flicker": 0.25,  # each frame's brightness is scaled by a factor in [1 - flicker, 1]
        "snr_db": [-3.0, 9.0],  # range of the per-clip speech-to-noise ratio; None: no noise
        "degraded_fraction": 0.15,  # share of clips with a degraded video, and again with a degraded audio
        "degraded_blur": [3.0, 4.5],  # blur of a degraded video: the digit's shape is lost, its motion is not
        "degraded_snr_db": [-18.0, -12.0],  # speech-to-noise ratio of a degraded audio track
    }


def _check_params(params: dict[str, Any]) -> None:
    expected = set(default_params(fast=True))
    if set(params) != expected:
        missing, extra = sorted(expected - set(params)), sorted(set(params) - expected)
        raise ValueError(f"params keys differ from default_params(): missing {missing}, unknown {extra}")
    for key in ("n_train", "n_val", "n_test"):
        if params[key] < 1:
            raise ValueError(f"{key} must be at least 1, got {params[key]}")
    if params["frames"] < 2:
        raise ValueError(f"frames must be at least 2 to show motion, got {params['frames']}")
    if params["fps"] <= 0 or params["sample_rate"] <= 0:
        raise ValueError(f"fps and sample_rate must be positive, got {params['fps']}, {params['sample_rate']}")
    unknown = [m for m in params["motions"] if m not in MOTIONS]
    if unknown or not params["motions"]:
        raise ValueError(f"unknown motion pattern(s) {unknown}; choose from {MOTIONS}")
    if len(set(params["motions"])) != len(params["motions"]):
        raise ValueError(f"motions must not repeat a pattern, got {params['motions']}")
    if not params["voices"] or not params["rates"]:
        raise ValueError("voices and rates must each hold at least one entry")
    for key in ("digit_size", "distractor_size"):
        if not 0 < params[key] <= params["size"]:
            raise ValueError(f"{key} must be in (0, size={params['size']}], got {params[key]}")
    for key in ("blur", "video_noise", "degraded_blur"):
        lo, hi = params[key]
        if not 0 <= lo <= hi:
            raise ValueError(f"{key} must be a range [low, high] with 0 <= low <= high, got {params[key]}")
    for key in ("snr_db", "degraded_snr_db"):
        if params[key] is not None and params[key][0] > params[key][1]:
            raise ValueError(f"{key} must be a range [low, high] or None, got {params[key]}")
    if not 0 <= params["degraded_fraction"] <= 0.5:
        raise ValueError(
            f"degraded_fraction must be in [0, 0.5] (video and audio each), got {params['degraded_fraction']}"
        )
    for key in ("distractor_prob", "silent_brightness"):
        if not 0 <= params[key] <= 1:
            raise ValueError(f"{key} must be in [0, 1], got {params[key]}")
    if not 0 <= params["flicker"] < 1:
        raise ValueError(f"flicker must be in [0, 1), got {params['flicker']}")


def speech_bank(params: dict[str, Any]) -> list[list[list[np.ndarray]]]:
    """Synthesize every utterance once: ``bank[voice][digit][rate]`` is a float32 waveform.

    eSpeak NG trims leading and trailing silence; each waveform is then scaled to unit RMS.
    """
    sample_rate = params["sample_rate"]
    return [
        [[_utterance(word, name, rate, pitch, sample_rate) for rate in params["rates"]] for word in WORDS]
        for name, pitch in params["voices"]
    ]


@lru_cache(maxsize=1024)
def _utterance(word: str, voice: str, rate: int, pitch: int, sample_rate: int) -> np.ndarray:
    """One word at unit RMS (read-only; cached, as eSpeak NG is deterministic)."""
    wave = speech.synthesize(word, voice=voice, rate=rate, pitch=pitch, sample_rate=sample_rate)
    wave = (wave / np.sqrt(np.mean(wave**2))).astype(np.float32)
    wave.setflags(write=False)
    return wave


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) float64 noise with a 1/f power spectrum and unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    spectrum[1:] /= np.sqrt(freqs[1:])
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, n)
    return noise / np.sqrt(np.mean(noise**2))


def speech_brightness(onset: float, duration: float, frames: int, fps: float, silent: float) -> np.ndarray:
    """(frames,) digit brightness: ``silent``, rising to 1 for the part of a frame covered by speech."""
    starts = np.arange(frames) / fps
    overlap = np.minimum(starts + 1 / fps, onset + duration) - np.maximum(starts, onset)  # seconds
    covered = np.clip(overlap, 0, None) * fps
    return (silent + (1 - silent) * covered).astype(np.float32)


def _clutter(frames: int, size: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """(frames, size, size) float32 short random strokes, drawn anew in every frame."""
    canvas = np.zeros((frames, size, size), dtype=np.uint8)
    for k in range(frames):
        for _ in range(rng.poisson(rate)):
            x0, y0 = rng.uniform(0, size, size=2)
            length, angle = rng.uniform(4, 10), rng.uniform(0, np.pi)
            end = (round(x0 + length * np.cos(angle)), round(y0 + length * np.sin(angle)))
            cv2.line(canvas[k], (round(x0), round(y0)), end, int(rng.uniform(80, 200)), 1, cv2.LINE_AA)
    return canvas.astype(np.float32) / 255


def _balanced(n: int, classes: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) int64 labels in [0, classes) whose counts differ by at most one, in random order."""
    return rng.permutation(np.arange(n) % classes).astype(np.int64)


def _split_pools(labels: np.ndarray, sizes: list[int], rng: np.random.Generator) -> list[list[np.ndarray]]:
    """Share each class's MNIST images among the splits in proportion to their sizes (no overlap)."""
    total = sum(sizes)
    bounds = np.cumsum([0, *sizes]) / total
    pools: list[list[np.ndarray]] = [[] for _ in sizes]
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(labels == digit))
        cuts = np.round(bounds * len(members)).astype(int)
        for s in range(len(sizes)):
            pools[s].append(members[cuts[s] : cuts[s + 1]])
    return pools


def _speech_track(
    wave: np.ndarray, n_samples: int, snr_db: float | None, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """(n_samples,) float64 audio with ``wave`` at a random start in pink noise, peak 0.9; and the start.

    The speech-to-noise ratio ``snr_db`` compares the word's power with the noise's (None: no noise).
    """
    start = int(rng.integers(0, n_samples - len(wave) + 1))
    audio = np.zeros(n_samples)
    audio[start : start + len(wave)] = wave  # the word has unit RMS
    if snr_db is not None:
        audio += pink_noise(n_samples, rng) * 10 ** (-snr_db / 20)
    return audio * (0.9 / np.abs(audio).max()), start


def _drifting_distractor(image: np.ndarray, params: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """(T, H, W) float32: a small, faint digit that drifts slowly from a random place."""
    frames, half = params["frames"], params["distractor_size"] / 2
    low, high = half, params["size"] - half
    drift = rng.uniform(low, high, size=2) + np.outer(np.arange(frames), rng.uniform(-0.3, 0.3, size=2))
    faint = np.full(frames, rng.uniform(0.3, 0.6), np.float32)
    path, size = np.clip(drift, low, high), params["size"]
    return render_moving_digit(image, path, size=size, digit_size=params["distractor_size"], intensity=faint)


def _conditions(count: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """(count,) int64 in random order: a ``fraction`` of 1 (video degraded), as many 2 (audio), 0 elsewhere."""
    k = round(count * fraction)
    return rng.permutation(np.repeat(np.arange(3), [count - 2 * k, k, k])).astype(np.int64)


def generate(params: dict[str, Any], seed: int) -> dict[str, np.ndarray]:
    """Make every clip from ``params`` and ``seed`` (deterministic: same inputs, same bytes).

    Returns, with N = n_train + n_val + n_test clips (train first, then val, then test):
        video (N, T, H, W) uint8; audio (N, S) int16 with S = T / fps * sample_rate;
        digit, motion, voice, onset_frame, degraded (N,) int64 (degraded indexes
        :data:`DEGRADED`); onset, speech_duration, snr_db, blur, noise_std (N,) float32
        (seconds, dB, pixels; snr_db is inf without noise); position (N, T, 2) float32 centre
        (x, y) of the digit in each frame; split (N,) int8 (0 train, 1 val, 2 test);
        image_index, distractor_index (N,) int64 rows of :func:`load_mnist` (-1: no distractor).
    """
    _check_params(params)
    frames, fps, size, sr = params["frames"], params["fps"], params["size"], params["sample_rate"]
    n_samples = round(frames / fps * sr)
    sizes = [params["n_train"], params["n_val"], params["n_test"]]
    images, labels = load_mnist()
    rng = np.random.default_rng(seed)
    pools = _split_pools(labels, sizes, rng)
    for s, count in enumerate(sizes):
        if -(-count // 10) > min(len(pool) for pool in pools[s]):
            raise ValueError(f"split {SPLITS[s]!r} needs more images of a digit than MNIST has; use fewer clips")
    bank = speech_bank(params)
    longest = max(len(w) for per_digit in bank for waves in per_digit for w in waves)
    if longest > n_samples:
        raise ValueError(f"clips of {frames / fps:.2f} s are shorter than the longest word ({longest / sr:.2f} s)")
    margin = params["digit_size"] * 0.1  # part of MNIST's blank border may leave the frame, the ink stays
    low, high = params["digit_size"] / 2 - margin, size - params["digit_size"] / 2 + margin

    n = sum(sizes)
    out = {
        "video": np.empty((n, frames, size, size), np.uint8),
        "audio": np.empty((n, n_samples), np.int16),
        "position": np.empty((n, frames, 2), np.float32),
        **{key: np.empty(n, np.int64) for key in
           ("digit", "motion", "voice", "onset_frame", "degraded", "image_index", "distractor_index")},
        **{key: np.empty(n, np.float32) for key in ("onset", "speech_duration", "snr_db", "blur", "noise_std")},
        "split": np.repeat(np.arange(len(sizes), dtype=np.int8), sizes),
    }
    progress = tqdm(total=n, desc=f"{NAME}: clips", leave=False)
    row = 0
    for s, count in enumerate(sizes):
        labels_of_split = zip(
            _balanced(count, 10, rng),
            _balanced(count, len(params["motions"]), rng),
            _balanced(count, len(bank), rng),
            _conditions(count, params["degraded_fraction"], rng),
        )
        unused = [list(rng.permutation(pool)) for pool in pools[s]]
        for digit, motion, voice, degraded in labels_of_split:
            # audio: the word at a random onset, in noise (much louder noise when the audio is degraded)
            wave = bank[voice][digit][rng.integers(len(params["rates"]))]
            snr = params["degraded_snr_db"] if degraded == 2 else params["snr_db"]
            snr = None if snr is None else rng.uniform(*snr)
            audio, start = _speech_track(wave, n_samples, snr, rng)
            onset, duration = start / sr, len(wave) / sr

            # video: the digit on its path, lit while spoken, blurred (heavily when the video is degraded)
            image = unused[digit].pop()
            path = trajectory(params["motions"][motion], frames, low, high, rng)
            light = speech_brightness(onset, duration, frames, fps, params["silent_brightness"])
            sigma = rng.uniform(*(params["degraded_blur"] if degraded == 1 else params["blur"]))
            ink = images[image].astype(np.float32) / 255
            if sigma > 0:  # blur, then restore the peak so that a blurred digit stays as bright
                ink = cv2.GaussianBlur(ink, (0, 0), sigma)
                ink *= 1 / ink.max()
            clip = render_moving_digit(ink, path, size=size, digit_size=params["digit_size"], intensity=light)
            distractor = -1
            if rng.random() < params["distractor_prob"]:
                distractor = int(rng.choice(pools[s][(digit + rng.integers(1, 10)) % 10]))
                clip = np.maximum(clip, _drifting_distractor(images[distractor], params, rng))
            clip = np.maximum(clip, _clutter(frames, size, params["clutter_per_frame"], rng))
            clip *= rng.uniform(1 - params["flicker"], 1, size=(frames, 1, 1)).astype(np.float32)
            noise_std = rng.uniform(*params["video_noise"])
            clip += rng.normal(0, noise_std, size=clip.shape).astype(np.float32)

            out["video"][row] = np.round(np.clip(clip, 0, 1) * 255)
            out["audio"][row] = np.round(audio * 32767)
            out["position"][row] = path
            out["digit"][row], out["motion"][row], out["voice"][row] = digit, motion, voice
            out["degraded"][row] = degraded
            out["onset"][row], out["speech_duration"][row] = onset, duration
            out["onset_frame"][row] = min(int(onset * fps), frames - 1)
            out["snr_db"][row] = np.inf if snr is None else snr
            out["blur"][row], out["noise_std"][row] = sigma, noise_std
            out["image_index"][row], out["distractor_index"][row] = image, distractor
            row += 1
            progress.update()
    progress.close()
    return out


def load_arrays(fast: bool | None = None, regenerate: bool = False) -> dict[str, np.ndarray]:
    """Every clip's arrays (see :func:`generate`), from the cache or generated on first use.

    ``fast`` defaults to :func:`course_lib.config.is_fast`.
    """
    fast = config.is_fast() if fast is None else fast
    return cached_arrays(NAME, params=default_params(fast), seed=SEED, version=VERSION,
                         generate=generate, fast=fast, regenerate=regenerate)


def synchrony_partners(onset: np.ndarray, digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each clip, another clip whose word starts at least :data:`SYNC_MIN_SHIFT` s away.

    A partner says the same digit whenever the split holds one, so that only the timing
    tells a mismatched pair from a matched one; otherwise it says another digit.

    Args:
        onset: (N,) word onsets in seconds; digit: (N,) digits of the same clips.

    Returns:
        (N,) int64 indices into the same N clips.
    """
    partners = np.empty(len(onset), dtype=np.int64)
    for i in range(len(onset)):
        far = np.abs(onset - onset[i]) >= SYNC_MIN_SHIFT
        candidates = np.flatnonzero(far & (digit == digit[i]))
        if len(candidates) == 0:
            candidates = np.flatnonzero(far)
        if len(candidates) == 0:
            raise ValueError(
                f"no clip's word starts {SYNC_MIN_SHIFT} s away from clip {i}'s; "
                "the split is too small for synchrony pairs"
            )
        partners[i] = rng.choice(candidates)
    return partners


class AVDigitsVideo(Dataset):
    """One split of AV-Digits-Video as a PyTorch dataset of dictionaries.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        fast: the small fast-mode data; defaults to :func:`course_lib.config.is_fast`.
        transforms: optional per-modality callables, e.g. ``{"video": v2.RandomCrop(28)}``,
            applied to that modality's tensor of each item.
        pairing: ``"matched"`` (each clip with its own audio) or ``"synchrony"``: twice as
            many items, alternating a matched pair (``sync`` 1) and a mismatched one (``sync``
            0) whose audio comes from another clip of the split, usually with the same digit,
            whose word starts at least :data:`SYNC_MIN_SHIFT` seconds earlier or later.
        arrays: the output of :func:`generate` to use instead of the cached dataset.

    Items:
        video float32 (T, 1, H, W) in [0, 1]; audio float32 (S,) in [-1, 1]; digit, motion,
        voice, degraded (see :data:`DEGRADED`), label (= digit) int64 scalars; onset float32
        scalar (seconds). In synchrony mode also ``sync`` int64 (1 or 0) and ``offset`` float32
        (audio onset minus video onset, seconds); voice then describes the audio, the other
        labels the video.
    """

    def __init__(
        self,
        split: str = "train",
        fast: bool | None = None,
        transforms: dict[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
        pairing: str = "matched",
        *,
        arrays: dict[str, np.ndarray] | None = None,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        if pairing not in ("matched", "synchrony"):
            raise ValueError(f"unknown pairing {pairing!r}; expected 'matched' or 'synchrony'")
        self.transforms = dict(transforms or {})
        unknown = set(self.transforms) - {"video", "audio"}
        if unknown:
            raise ValueError(f"transforms has keys {sorted(unknown)}; the modalities are 'video' and 'audio'")
        arrays = load_arrays(fast) if arrays is None else arrays
        rows = np.flatnonzero(arrays["split"] == SPLITS.index(split))
        self.split, self.pairing = split, pairing
        self.video = arrays["video"][rows]
        self.audio = arrays["audio"][rows]
        self.labels = {key: arrays[key][rows] for key in ("digit", "motion", "voice", "onset", "degraded")}
        self.partners = None
        if pairing == "synchrony":
            rng = np.random.default_rng([SEED, SPLITS.index(split)])
            self.partners = synchrony_partners(self.labels["onset"], self.labels["digit"], rng)

    def __len__(self) -> int:
        return len(self.video) * (2 if self.pairing == "synchrony" else 1)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} items")
        index %= len(self)
        clip, source, sync = index, index, 1
        if self.partners is not None:
            clip, sync = index // 2, 1 - index % 2
            source = clip if sync else int(self.partners[clip])
        video = torch.from_numpy(self.video[clip]).unsqueeze(1).float() / 255  # (T, 1, H, W)
        audio = torch.from_numpy(self.audio[source].astype(np.float32) / 32768)  # (S,)
        item = {
            "video": self.transforms["video"](video) if "video" in self.transforms else video,
            "audio": self.transforms["audio"](audio) if "audio" in self.transforms else audio,
            "digit": torch.tensor(self.labels["digit"][clip]),
            "motion": torch.tensor(self.labels["motion"][clip]),
            "voice": torch.tensor(self.labels["voice"][source]),
            "onset": torch.tensor(self.labels["onset"][clip]),
            "degraded": torch.tensor(self.labels["degraded"][clip]),
            "label": torch.tensor(self.labels["digit"][clip]),
        }
        if self.partners is not None:
            item["sync"] = torch.tensor(sync, dtype=torch.int64)
            item["offset"] = torch.tensor(self.labels["onset"][source] - self.labels["onset"][clip])
        return item
