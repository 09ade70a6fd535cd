"""Measured baselines of AV-Digits: image only, audio only, and both (fusion).

Each baseline is a scikit-learn classifier on simple features, trained on the training
split and scored on the validation split (training voices) and the test split (voices
never heard in training):

- image: the 784 pixels of the degraded image;
- audio: a log-mel spectrogram (torchaudio, 64 bands, 25 ms windows every 10 ms)
  summarized over time by its mean, standard deviation and maximum per band (192 values);
- fusion: both feature vectors, concatenated (early fusion).

    python benchmarks/dataset_baselines_av_digits.py          # full-size data
    python benchmarks/dataset_baselines_av_digits.py --fast   # a quick check on the small data

writes av_digits_baselines.md and .json to benchmarks/results/ (full mode) or to
artifacts/benchmarks/ (``--fast``).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torchaudio
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from course_lib import config
from course_lib.data import av_digits

from report import write_report


def image_features(images: np.ndarray) -> np.ndarray:
    """float32 ``(n, 1, 28, 28)`` -> ``(n, 784)`` pixels."""
    return images.reshape(len(images), -1)


def audio_features(audio: np.ndarray, sample_rate: int, batch_size: int = 500) -> np.ndarray:
    """int16 ``(n, samples)`` -> ``(n, 192)``: log-mel mean, std and max over time per band."""
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=sample_rate, n_fft=400, hop_length=160, n_mels=64)
    to_db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=80.0)
    features = []
    for start in range(0, len(audio), batch_size):
        waves = torch.from_numpy(audio[start : start + batch_size].astype(np.float32) / 32768.0)
        log_mel = to_db(mel(waves).unsqueeze(1)).squeeze(1)  # (B, 64, frames), top_db per clip
        features.append(torch.cat([log_mel.mean(-1), log_mel.std(-1), log_mel.amax(-1)], dim=1))
    return torch.cat(features).numpy()


def classifiers() -> dict:
    """The two models of the table, each behind a StandardScaler."""
    return {
        "logistic regression": lambda: make_pipeline(
            StandardScaler(), LogisticRegression(C=0.1, max_iter=3000)
        ),
        "MLP (256 hidden)": lambda: make_pipeline(
            StandardScaler(),
            MLPClassifier(hidden_layer_sizes=(256,), alpha=1e-2, early_stopping=True,
                          max_iter=300, random_state=0),
        ),
    }


def run(arrays: dict[str, np.ndarray]) -> list[dict]:
    """Fit every model on every feature set; one result row each."""
    split, labels = arrays["split"], arrays["label"]
    start = time.perf_counter()
    image = image_features(arrays["image"])
    audio = audio_features(arrays["audio"], int(arrays["sample_rate"]))
    print(f"features in {time.perf_counter() - start:.1f} s")
    features = {"image": image, "audio": audio, "image + audio (concatenated)": np.hstack([image, audio])}
    rows = []
    for model_name, make_model in classifiers().items():
        for modality, x in features.items():
            start = time.perf_counter()
            with threadpool_limits(limits=1):  # small fits: one BLAS thread is fastest on a shared CPU
                model = make_model().fit(x[split == "train"], labels[split == "train"])
            seconds = time.perf_counter() - start
            row = {
                "modality": modality,
                "model": model_name,
                "n_features": int(x.shape[1]),
                "val_accuracy": float(model.score(x[split == "val"], labels[split == "val"])),
                "test_accuracy": float(model.score(x[split == "test"], labels[split == "test"])),
                "train_seconds": round(seconds, 1),
            }
            rows.append(row)
            print(f"{model_name:20s} {modality:30s} test {row['test_accuracy']:.3f} "
                  f"val {row['val_accuracy']:.3f} ({seconds:.1f} s)", flush=True)
    return rows


def markdown(rows: list[dict], counts: dict[str, int]) -> str:
    lines = [
        "# AV-Digits baselines",
        "",
        f"Training on {counts['train']} samples; validation {counts['val']} (training voices); "
        f"test {counts['test']} (held-out voices). Written by "
        "`python benchmarks/dataset_baselines_av_digits.py`.",
        "",
        "| modality | model | features | test accuracy (held-out voices) | val accuracy (training voices) | train seconds |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['modality']} | {row['model']} | {row['n_features']} | "
            f"{100 * row['test_accuracy']:.1f}% | {100 * row['val_accuracy']:.1f}% | {row['train_seconds']:.1f} |"
        )
    for model in dict.fromkeys(row["model"] for row in rows):
        scores = {row["modality"]: row["test_accuracy"] for row in rows if row["model"] == model}
        fused = scores.pop("image + audio (concatenated)")
        lines.append("")
        lines.append(f"{model}: fusion {100 * fused:.1f}% vs best single modality "
                     f"{100 * max(scores.values()):.1f}% (+{100 * (fused - max(scores.values())):.1f} points).")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="use the small fast-mode data (a smoke test)")
    args = parser.parse_args()
    total = time.perf_counter()
    arrays = av_digits.load_arrays(fast=args.fast)
    print(f"data ready in {time.perf_counter() - total:.1f} s")
    rows = run(arrays)
    counts = {name: int((arrays["split"] == name).sum()) for name in av_digits.SPLITS}
    result = {"dataset": av_digits.NAME, "version": av_digits.VERSION, "fast": args.fast,
              "params": av_digits.default_params(args.fast), "counts": counts, "rows": rows,
              "total_seconds": round(time.perf_counter() - total, 1)}
    output_dir = config.artifacts_dir() / "benchmarks" if args.fast else Path(__file__).resolve().parent / "results"
    path = write_report(output_dir, "av_digits_baselines", result, markdown(rows, counts))
    print(f"wrote {path} in {result['total_seconds']} s")


if __name__ == "__main__":
    main()
