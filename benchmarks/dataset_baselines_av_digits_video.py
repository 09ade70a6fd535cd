"""Simple baselines on AV-Digits-Video: what each modality alone gives, and a first fusion.

Logistic regression on fixed features, trained on the train split and scored on the test
split:

* video, pooled frames: the mean and the maximum of the frames over time, for digit and motion;
* video, a tiny tracker that follows the brightest blob: its path (for motion) and the
  patches around it averaged over the frames (for digit);
* audio, log-mel statistics: the mean and standard deviation over time of a log-mel
  spectrogram (torchaudio), for digit and voice;
* fusion for digit: the two feature sets side by side (early fusion), and the average of the
  two unimodal models' probabilities (late fusion);
* synchrony: matched and mismatched pairs (as ``pairing="synchrony"`` makes them), from how the
  digit's brightness and the audio's loudness rise and fall together, frame by frame.

Run from the repository root (full mode unless ``--fast``)::

    python benchmarks/dataset_baselines_av_digits_video.py

In full mode it writes ``benchmarks/results/av_digits_video_baselines.{md,json}``.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from functools import partial

import cv2
import numpy as np
import torch
import torchaudio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from course_lib import config
from course_lib.data import av_digits_video as avv
from course_lib.data.cache import ARRAYS_FILE, MANIFEST_FILE, cache_dir

from report import write_report

RESULTS = config.ROOT / "benchmarks" / "results"


def pooled_frames(video: np.ndarray) -> np.ndarray:
    """(N, T, H, W) uint8 -> (N, 2*H*W): the mean and the max frame over time, in [0, 1]."""
    frames = video.astype(np.float32) / 255
    return np.concatenate([frames.mean(axis=1), frames.max(axis=1)], axis=1).reshape(len(video), -1)


def track_brightest_blob(video: np.ndarray, crop: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Follow the brightest blob (the lit digit) through each clip with a tiny hand-made tracker.

    In every frame: smooth (Gaussian, sigma 2 px), keep the brightest 3% of the pixels, take
    their intensity-weighted centre and cut a ``crop`` x ``crop`` patch around it (OpenCV).

    Args:
        video: (N, T, H, W) uint8.

    Returns:
        centres (N, T, 2) float32 (x, y) in pixels; crops (N, crop, crop) float32, the patches
        averaged over the frames (motion-compensated averaging: the noise averages out).
    """
    n, frames, height, width = video.shape
    ys, xs = np.mgrid[:height, :width]
    centres = np.empty((n, frames, 2), np.float32)
    crops = np.zeros((n, crop, crop), np.float32)
    for i in range(n):
        for k in range(frames):
            frame = video[i, k].astype(np.float32) / 255
            smooth = cv2.GaussianBlur(frame, (0, 0), 2.0)
            weight = smooth * (smooth >= np.percentile(smooth, 97))
            centre = (float((weight * xs).sum() / weight.sum()), float((weight * ys).sum() / weight.sum()))
            centres[i, k] = centre
            crops[i] += cv2.getRectSubPix(frame, (crop, crop), centre) / frames
    return centres, crops


def log_mel_stats(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """(N, S) int16 -> (N, 2*n_mels): mean and standard deviation over time of the log-mel spectrogram."""
    mel = torchaudio.transforms.MelSpectrogram(sample_rate, n_fft=256, hop_length=128, n_mels=40)
    with torch.no_grad():
        waves = torch.from_numpy(audio.astype(np.float32) / 32768)
        spectrogram = torch.log(mel(waves) + 1e-6)  # (N, 40, steps)
    return torch.cat([spectrogram.mean(dim=2), spectrogram.std(dim=2)], dim=1).numpy()


def synchrony_features(
    video: np.ndarray, audio: np.ndarray, partners: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Frame-by-frame agreement of the digit's brightness and the audio's loudness, for matched
    and mismatched pairs.

    Args:
        video: (N, T, H, W) uint8 clips of one split; audio: (N, S) int16 tracks of the same clips;
        partners: (N,) the clip whose audio each mismatched pair uses (as in synchrony mode).

    Returns:
        (2N, T) products of the standardized brightness (98th percentile of each frame) and
        loudness (log RMS of the audio under each frame) profiles, and (2N,) sync labels 1/0.
    """
    n, frames = video.shape[:2]
    brightness = np.percentile(video.reshape(n, frames, -1).astype(np.float32), 98, axis=2)
    chunks = audio[:, : audio.shape[1] // frames * frames].astype(np.float32).reshape(n, frames, -1)
    loudness = np.log(np.sqrt(np.mean(chunks**2, axis=2)) + 1.0)

    def standardize(x: np.ndarray) -> np.ndarray:
        return (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + 1e-6)

    brightness, loudness = standardize(brightness), standardize(loudness)
    matched = brightness * loudness
    mismatched = brightness * loudness[partners]
    return np.concatenate([matched, mismatched]), np.repeat([1, 0], n)


def fit_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray) -> np.ndarray:
    """Standardize, fit a logistic regression and return the test class probabilities."""
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    model.fit(train_x, train_y)
    return model.predict_proba(test_x)


def scores(predicted: np.ndarray, target: np.ndarray, degraded: np.ndarray) -> dict[str, float]:
    """Accuracy on all clips and on the clips with no, a degraded video, or a degraded audio track."""
    correct = predicted == target
    by_condition = {
        f"accuracy_{name}_degraded": float(np.mean(correct[degraded == k])) for k, name in enumerate(avv.DEGRADED)
    }
    return {"accuracy": float(np.mean(correct)), **by_condition}


def statistics(arrays: dict[str, np.ndarray], fast: bool) -> dict:
    """Shapes, label counts and the spread of onsets, word lengths and noise levels."""
    def spread(values: np.ndarray) -> dict[str, float]:
        finite = values[np.isfinite(values)]
        return {"min": float(finite.min()), "mean": float(finite.mean()), "max": float(finite.max())}

    return {
        "video_shape": list(arrays["video"].shape[1:]),
        "audio_samples": int(arrays["audio"].shape[1]),
        "disk_megabytes": round((cache_dir(avv.NAME, fast) / ARRAYS_FILE).stat().st_size / 1e6, 1),
        "counts": {key: np.bincount(arrays[key]).tolist() for key in ("digit", "motion", "voice", "degraded")},
        "onset_seconds": spread(arrays["onset"]),
        "speech_seconds": spread(arrays["speech_duration"]),
        "snr_db": spread(arrays["snr_db"]),
        "noise_std": spread(arrays["noise_std"]),
        "with_distractor": float(np.mean(arrays["distractor_index"] >= 0)),
    }


def run(fast: bool) -> dict:
    torch.set_num_threads(2)
    start = time.perf_counter()
    arrays = avv.load_arrays(fast=fast)
    load_seconds = time.perf_counter() - start
    manifest = json.loads((cache_dir(avv.NAME, fast) / MANIFEST_FILE).read_text())
    params = manifest["params"]
    train, test = arrays["split"] == 0, arrays["split"] == 2

    def timed(make):
        begin = time.perf_counter()
        value = make()
        return value, time.perf_counter() - begin

    features, seconds = {}, {}
    features["pooled frames"], seconds["pooled frames"] = timed(lambda: pooled_frames(arrays["video"]))
    (centres, crops), seconds["tracked crop"] = timed(lambda: track_brightest_blob(arrays["video"]))
    path = np.concatenate([centres, centres - centres[:, :1]], axis=2)  # where, and how far from the start
    features["blob track"], seconds["blob track"] = path.reshape(len(path), -1), seconds["tracked crop"]
    features["tracked crop"] = crops.reshape(len(crops), -1)
    features["log-mel stats"], seconds["log-mel stats"] = timed(
        lambda: log_mel_stats(arrays["audio"], params["sample_rate"])
    )
    fused = "tracked crop + log-mel stats"
    features[fused] = np.concatenate([features["tracked crop"], features["log-mel stats"]], axis=1)
    seconds[fused] = seconds["tracked crop"] + seconds["log-mel stats"]

    experiments = [
        ("video", "pooled frames", "digit"),
        ("video", "tracked crop", "digit"),
        ("video", "pooled frames", "motion"),
        ("video", "blob track", "motion"),
        ("audio", "log-mel stats", "digit"),
        ("audio", "log-mel stats", "voice"),
        ("video + audio (early fusion)", "tracked crop + log-mel stats", "digit"),
    ]
    rows, probabilities = [], {}
    for modality, name, task in experiments:
        x = features[name]
        proba, fit_seconds = timed(partial(fit_predict, x[train], arrays[task][train], x[test]))
        probabilities[(name, task)] = proba
        row = {"modality": modality, "features": name, "task": task, "seconds": fit_seconds + seconds[name]}
        rows.append({**row, **scores(proba.argmax(axis=1), arrays[task][test], arrays["degraded"][test])})
        print(f"{modality:30s} {name:30s} {task:7s} accuracy {rows[-1]['accuracy']:.3f} ({row['seconds']:.1f} s)")

    late = (probabilities[("tracked crop", "digit")] + probabilities[("log-mel stats", "digit")]) / 2
    parts = ("tracked crop", "log-mel stats")
    unimodal_seconds = sum(row["seconds"] for row in rows if row["task"] == "digit" and row["features"] in parts)
    rows.append({"modality": "video + audio (late fusion)", "features": "mean of the two digit models' probabilities",
                 "task": "digit", "seconds": unimodal_seconds,
                 **scores(late.argmax(axis=1), arrays["digit"][test], arrays["degraded"][test])})
    print(f"late fusion digit accuracy {rows[-1]['accuracy']:.3f}")

    def synchrony_pairs(split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        of_split = arrays["split"] == avv.SPLITS.index(split)
        partners = avv.AVDigitsVideo(split, arrays=arrays, pairing="synchrony").partners
        x, y = synchrony_features(arrays["video"][of_split], arrays["audio"][of_split], partners)
        return x, y, np.tile(arrays["degraded"][of_split], 2)

    def synchrony() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        train_x, train_y, _ = synchrony_pairs("train")
        test_x, test_y, test_degraded = synchrony_pairs("test")
        return fit_predict(train_x, train_y, test_x).argmax(axis=1), test_y, test_degraded

    (predicted, target, degraded), sync_seconds = timed(synchrony)
    rows.append({"modality": "video + audio (synchrony pairs)", "features": "brightness x loudness per frame",
                 "task": "sync", "seconds": sync_seconds, **scores(predicted, target, degraded)})
    print(f"synchrony accuracy {rows[-1]['accuracy']:.3f}")

    return {
        "dataset": avv.NAME,
        "version": avv.VERSION,
        "mode": "fast" if fast else "full",
        "clips": {split: int(np.sum(arrays["split"] == i)) for i, split in enumerate(avv.SPLITS)},
        "generation_seconds": manifest["generation_seconds"],
        "load_seconds": round(load_seconds, 2),
        "statistics": statistics(arrays, fast),
        "chance": {
            "digit": 0.1, "motion": 1 / len(params["motions"]), "voice": 1 / len(params["voices"]), "sync": 0.5
        },
        "baselines": rows,
        "machine": f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}",
    }


def write(results: dict) -> None:
    lines = [
        f"# AV-Digits-Video baselines ({results['mode']} mode)",
        "",
        f"Logistic regression on fixed features; trained on {results['clips']['train']} clips, "
        f"scored on the {results['clips']['test']} test clips. Chance: digit {results['chance']['digit']:.1%}, "
        f"motion {results['chance']['motion']:.1%}, voice {results['chance']['voice']:.1%}, sync 50%.",
        "",
        "The last three columns split the test accuracy by the clip's degradation: none, a blurred",
        "video, or an audio track drowned in noise.",
        "",
        "| modality | features | task | test accuracy | seconds | none | video degraded | audio degraded |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results["baselines"]:
        lines.append(
            f"| {row['modality']} | {row['features']} | {row['task']} | {row['accuracy']:.1%} "
            f"| {row['seconds']:.1f} | {row['accuracy_none_degraded']:.1%} | {row['accuracy_video_degraded']:.1%} "
            f"| {row['accuracy_audio_degraded']:.1%} |"
        )
    stats = results["statistics"]
    lines += [
        "",
        f"Clips: video {stats['video_shape']} uint8, audio {stats['audio_samples']} int16 samples, "
        f"{stats['disk_megabytes']:.0f} MB on disk. Word onset {stats['onset_seconds']['min']:.2f}-"
        f"{stats['onset_seconds']['max']:.2f} s, word length {stats['speech_seconds']['min']:.2f}-"
        f"{stats['speech_seconds']['max']:.2f} s (mean {stats['speech_seconds']['mean']:.2f} s).",
        "",
        f"Generation: {results['generation_seconds']:.0f} s; seconds include feature extraction. "
        "Made by `python benchmarks/dataset_baselines_av_digits_video.py`.",
    ]
    write_report(RESULTS, "av_digits_video_baselines", results, "\n".join(lines) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="use the small fast-mode data; print, write nothing")
    fast = parser.parse_args().fast
    results = run(fast)
    if not fast:
        write(results)
