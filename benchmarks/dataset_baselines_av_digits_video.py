"""Simple baselines on AV-Digits-Video: what each modality alone gives, and a first fusion.

Logistic regression on fixed features, trained on the train split and scored on the test
split:

* video, pooled frames: the mean and the maximum of the frames over time, for digit and motion;
* video, motion profiles: each frame's row and column means (where the ink is, frame by frame),
  for motion;
* audio, log-mel statistics: the mean and standard deviation over time of a log-mel
  spectrogram (torchaudio), for digit and voice;
* fusion for digit: the two feature sets side by side (early fusion), and the average of the
  two unimodal models' probabilities (late fusion).

Run from the repository root (full mode unless ``--fast``)::

    python benchmarks/dataset_baselines_av_digits_video.py

In full mode it writes ``benchmarks/results/av_digits_video_baselines.{md,json}``.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torchaudio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from course_lib import config
from course_lib.data import av_digits_video as avv
from course_lib.data.cache import ARRAYS_FILE, MANIFEST_FILE, cache_dir

RESULTS = config.ROOT / "benchmarks" / "results"


def pooled_frames(video: np.ndarray) -> np.ndarray:
    """(N, T, H, W) uint8 -> (N, 2*H*W): the mean and the max frame over time, in [0, 1]."""
    frames = video.astype(np.float32) / 255
    return np.concatenate([frames.mean(axis=1), frames.max(axis=1)], axis=1).reshape(len(video), -1)


def motion_profiles(video: np.ndarray) -> np.ndarray:
    """(N, T, H, W) uint8 -> (N, T*(H+W)): each frame's row means and column means."""
    frames = video.astype(np.float32) / 255
    return np.concatenate([frames.mean(axis=3), frames.mean(axis=2)], axis=2).reshape(len(video), -1)


def log_mel_stats(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """(N, S) int16 -> (N, 2*n_mels): mean and standard deviation over time of the log-mel spectrogram."""
    mel = torchaudio.transforms.MelSpectrogram(sample_rate, n_fft=256, hop_length=128, n_mels=40)
    with torch.no_grad():
        spectrogram = torch.log(mel(torch.from_numpy(audio.astype(np.float32) / 32768)) + 1e-6)  # (N, 40, frames)
    return torch.cat([spectrogram.mean(dim=2), spectrogram.std(dim=2)], dim=1).numpy()


def fit_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray) -> np.ndarray:
    """Standardize, fit a logistic regression and return the test class probabilities."""
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    model.fit(train_x, train_y)
    return model.predict_proba(test_x)


def scores(predicted: np.ndarray, target: np.ndarray, degraded: np.ndarray) -> dict[str, float]:
    """Accuracy on all clips and on the clips with no, a degraded video, or a degraded audio track."""
    correct = predicted == target
    by_condition = {f"accuracy_{name}_degraded": float(np.mean(correct[degraded == k])) for k, name in enumerate(avv.DEGRADED)}
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

    rows = []
    probabilities = {}
    features = {}

    def timed_features(name, make):
        begin = time.perf_counter()
        features[name] = make()
        return time.perf_counter() - begin

    feature_seconds = {
        "pooled frames": timed_features("pooled frames", lambda: pooled_frames(arrays["video"])),
        "motion profiles": timed_features("motion profiles", lambda: motion_profiles(arrays["video"])),
        "log-mel stats": timed_features("log-mel stats", lambda: log_mel_stats(arrays["audio"], params["sample_rate"])),
    }
    features["pooled frames + log-mel stats"] = np.concatenate([features["pooled frames"], features["log-mel stats"]], axis=1)
    feature_seconds["pooled frames + log-mel stats"] = feature_seconds["pooled frames"] + feature_seconds["log-mel stats"]

    experiments = [
        ("video", "pooled frames", "digit"),
        ("video", "pooled frames", "motion"),
        ("video", "motion profiles", "motion"),
        ("audio", "log-mel stats", "digit"),
        ("audio", "log-mel stats", "voice"),
        ("video + audio (early fusion)", "pooled frames + log-mel stats", "digit"),
    ]
    for modality, name, task in experiments:
        begin = time.perf_counter()
        proba = fit_predict(features[name][train], arrays[task][train], features[name][test])
        seconds = time.perf_counter() - begin + feature_seconds[name]
        probabilities[(name, task)] = proba
        rows.append({"modality": modality, "features": name, "task": task, "seconds": seconds,
                     **scores(proba.argmax(axis=1), arrays[task][test], arrays["degraded"][test])})
        print(f"{modality:30s} {name:32s} {task:7s} accuracy {rows[-1]['accuracy']:.3f} ({seconds:.1f} s)")

    late = (probabilities[("pooled frames", "digit")] + probabilities[("log-mel stats", "digit")]) / 2
    rows.append({"modality": "video + audio (late fusion)", "features": "mean of the two digit models' probabilities",
                 "task": "digit", "seconds": 0.0, **scores(late.argmax(axis=1), arrays["digit"][test], arrays["degraded"][test])})
    print(f"late fusion digit accuracy {rows[-1]['accuracy']:.3f}")

    return {
        "dataset": avv.NAME,
        "version": avv.VERSION,
        "mode": "fast" if fast else "full",
        "clips": {split: int(np.sum(arrays["split"] == i)) for i, split in enumerate(avv.SPLITS)},
        "generation_seconds": manifest["generation_seconds"],
        "load_seconds": round(load_seconds, 2),
        "statistics": statistics(arrays, fast),
        "chance": {"digit": 0.1, "motion": 1 / len(params["motions"]), "voice": 1 / len(params["voices"])},
        "baselines": rows,
        "machine": f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}",
    }


def write(results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "av_digits_video_baselines.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        f"# AV-Digits-Video baselines ({results['mode']} mode)",
        "",
        f"Logistic regression on fixed features; trained on {results['clips']['train']} clips, "
        f"scored on the {results['clips']['test']} test clips. Chance: digit {results['chance']['digit']:.1%}, "
        f"motion {results['chance']['motion']:.1%}, voice {results['chance']['voice']:.1%}.",
        "",
        "The last three columns split the test accuracy by the clip's degradation: none, a blurred",
        "video, or an audio track drowned in noise.",
        "",
        "| modality | features | task | test accuracy | seconds | none | video degraded | audio degraded |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results["baselines"]:
        lines.append(
            f"| {row['modality']} | {row['features']} | {row['task']} | {row['accuracy']:.1%} | {row['seconds']:.1f} "
            f"| {row['accuracy_none_degraded']:.1%} | {row['accuracy_video_degraded']:.1%} | {row['accuracy_audio_degraded']:.1%} |"
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
    (RESULTS / "av_digits_video_baselines.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="use the small fast-mode data; print, write nothing")
    fast = parser.parse_args().fast
    results = run(fast)
    if not fast:
        write(results)
