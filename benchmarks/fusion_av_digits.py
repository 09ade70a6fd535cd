"""Benchmark: the comparison table of notebook 03 (every fusion method on AV-Digits), in full mode.

Each method (image only, audio only; early, intermediate and late fusion) is trained with the same
encoders, head, budget and seeds by ``course_lib.experiments.av_digits_fusion``, the code the
notebook runs, and scored on the test split (voices never heard in training). The two late fusions
of separately trained models combine the image-only and audio-only models of the same seed::

    python benchmarks/fusion_av_digits.py --threads 1     # full mode, seeds 0 1 2 (as benchmarks/run_all.py runs it)
    python benchmarks/fusion_av_digits.py --seeds 0       # one seed
    python benchmarks/fusion_av_digits.py --fast          # a quick check on the small data
    python benchmarks/fusion_av_digits.py --dataset-param audio_snr_db=-3   # other degradation

It writes ``fusion_av_digits.md`` and ``fusion_av_digits.json`` to ``benchmarks/results/``
(full mode, default dataset) or to ``artifacts/benchmarks/`` (``--fast`` or ``--dataset-param``,
which generates AV-Digits in memory with changed parameters, leaving the cache alone): per method
the mean, standard deviation and median over the seeds of test accuracy, the mean macro F1, each
seed's values, the median training seconds, the parameter count, the device and the dataset's
degradation parameters (``accuracy`` and ``macro_f1`` in the JSON are the medians; ``accuracy_mean``
and ``accuracy_std`` the mean and spread). The design's target is met when the best fusion method
beats the best unimodal model by at least 10 accuracy points (means over the seeds).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from course_lib import config
from course_lib.data import av_digits
from course_lib.experiments import av_digits_fusion as avf

from report import write_report

TARGET_POINTS = 10.0
DEGRADATION_KEYS = ("image_pca_fraction", "image_noise_std", "audio_snr_db", "audio_snr_spread_db",
                    "audio_gain_db_range", "noise_color_range")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help=f"default: {avf.EPOCHS} (2 with --fast)")
    parser.add_argument("--methods", nargs="+", choices=list(avf.METHODS), default=list(avf.METHODS))
    parser.add_argument("--fast", action="store_true", help="the small fast-mode data, written to artifacts/")
    parser.add_argument("--device", default=None, help="e.g. cpu or cuda (default: the best available)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--dataset-param", action="append", default=[], metavar="KEY=VALUE",
                        help="change one AV-Digits generator parameter (VALUE in JSON), e.g. audio_snr_db=-3")
    parser.add_argument("--output-dir", type=Path, default=None)
    return parser.parse_args()


def parse_param(text: str) -> tuple[str, object]:
    """``"audio_snr_db=-3"`` -> ``("audio_snr_db", -3)``; the value is read as JSON."""
    key, sep, value = text.partition("=")
    if not sep or key not in av_digits.default_params(fast=False):
        raise SystemExit(f"--dataset-param wants KEY=VALUE with KEY an AV-Digits parameter, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError as error:
        raise SystemExit(f"--dataset-param {key}: {value!r} is not valid JSON ({error})") from None


def summarize(method: str, runs: list[dict]) -> dict:
    """One table row from the rows of several seeds: mean, spread and median plus every seed's values."""
    accuracies = [r["accuracy"] for r in runs]
    f1s = [r["macro_f1"] for r in runs]
    return {
        "method": method,
        "name": avf.METHODS[method],
        "stage": avf.STAGES[method],
        "accuracy": statistics.median(accuracies),
        "accuracy_mean": statistics.fmean(accuracies),
        "accuracy_std": statistics.stdev(accuracies) if len(runs) > 1 else 0.0,
        "macro_f1": statistics.median(f1s),
        "macro_f1_mean": statistics.fmean(f1s),
        "parameters": runs[0]["parameters"],
        "seconds": statistics.median(r["seconds"] for r in runs),
        "seeds": [r["seed"] for r in runs],
        "accuracy_per_seed": accuracies,
        "macro_f1_per_seed": f1s,
        "seconds_per_seed": [r["seconds"] for r in runs],
        "best_epoch_per_seed": [r["best_epoch"] for r in runs],
        **({"weights_per_seed": [r["weights"] for r in runs]} if "weights" in runs[0] else {}),
    }


def margin(rows: list[dict]) -> dict:
    """Best fusion minus best unimodal mean accuracy, in points, and whether the target is met."""
    unimodal = [r for r in rows if r["method"] in avf.UNIMODAL]
    fusion = [r for r in rows if r["method"] not in avf.UNIMODAL]
    if not unimodal or not fusion:
        return {}
    best_unimodal = max(unimodal, key=lambda r: r["accuracy_mean"])
    best_fusion = max(fusion, key=lambda r: r["accuracy_mean"])
    points = 100 * (best_fusion["accuracy_mean"] - best_unimodal["accuracy_mean"])
    return {"statistic": "mean over seeds", "best_unimodal": best_unimodal["method"],
            "best_fusion": best_fusion["method"], "best_unimodal_accuracy": best_unimodal["accuracy_mean"],
            "best_fusion_accuracy": best_fusion["accuracy_mean"], "margin_points": round(points, 2),
            "target_points": TARGET_POINTS, "target_met": points >= TARGET_POINTS}


def markdown(report: dict) -> str:
    """The results file that notebook 03 quotes."""
    seeds = " ".join(str(s) for s in report["seeds"])
    lines = [
        "# Fusion methods on AV-Digits",
        "",
        f"Written by `benchmarks/fusion_av_digits.py` on {report['created_utc'][:10]} in {report['mode']} mode: "
        f"{report['epochs']} epochs of Adam per trained model, seeds {seeds}, device `{report['device']}` "
        f"(torch threads: {report['torch_threads']}). Test split: {report['test_size']} samples spoken by voices "
        "that never occur in training. Test accuracy: mean ± standard deviation over the seeds, the median, and "
        "each seed's value; macro F1: mean over the seeds. Stage: where the modalities meet (early: the inputs; "
        "intermediate: learned embeddings; late: per-modality decisions). The two late fusions of separate models "
        "combine the image-only and audio-only models of the same seed; their parameters and seconds are those of "
        "the two models together. Training seconds are the median wall-clock time of `fit` on a shared machine, "
        "so they are noisy.",
        "",
        "| method | stage | test accuracy (mean ± sd) | median | accuracy per seed | macro F1 (mean) | parameters "
        "| training seconds |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for row in report["rows"]:
        per_seed = ", ".join(f"{100 * a:.1f}" for a in row["accuracy_per_seed"])
        lines.append(f"| {row['name']} | {row['stage']} | {100 * row['accuracy_mean']:.1f} ± "
                     f"{100 * row['accuracy_std']:.1f} % | {100 * row['accuracy']:.1f} % | {per_seed} | "
                     f"{100 * row['macro_f1_mean']:.1f} % | {row['parameters']:,} | {row['seconds']:.1f} |")
    weighted = next((r for r in report["rows"] if r["method"] == "late_weighted"), None)
    if weighted:
        image = ", ".join(f"{w['image']:.2f}" for w in weighted["weights_per_seed"])
        lines += ["", f"Weight of the image in \"{weighted['name']}\", per seed: {image} (the audio's: one minus it)."]
    result = report.get("margin")
    if result:
        verdict = "met" if result["target_met"] else "not met"
        lines += ["", f"Best fusion ({avf.METHODS[result['best_fusion']]}, "
                      f"{100 * result['best_fusion_accuracy']:.1f} %) minus best unimodal model "
                      f"({avf.METHODS[result['best_unimodal']]}, {100 * result['best_unimodal_accuracy']:.1f} %), "
                      f"means over the seeds: **{result['margin_points']:+.1f} accuracy points** "
                      f"(target: at least +{result['target_points']:.0f}; {verdict})."]
    params = ", ".join(f"`{k}={report['dataset_params'][k]}`" for k in DEGRADATION_KEYS)
    changed = (" Changed from the defaults: " + ", ".join(f"`{k}`" for k in report["dataset_changes"]) + "."
               if report["dataset_changes"] else "")
    lines += ["", f"AV-Digits degradation: {params}.{changed} Total benchmark time: {report['total_seconds']:.0f} s."]
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    fast = args.fast
    epochs = args.epochs or (2 if fast else avf.EPOCHS)
    device = config.get_device(args.device)
    changes = dict(parse_param(text) for text in args.dataset_param)
    official = not fast and not changes
    output_dir = args.output_dir or (Path(__file__).resolve().parent / "results" if official
                                     else config.artifacts_dir() / "benchmarks")
    dataset_params = {**av_digits.default_params(fast), **changes}
    start = time.perf_counter()
    arrays = av_digits.generate(dataset_params, av_digits.SEED) if changes else None
    features = avf.load_features(fast=fast, arrays=arrays)
    runs: dict[str, list[dict]] = {m: [] for m in args.methods}
    order = sorted(args.methods, key=lambda m: m in avf.DECISION_METHODS)  # the unimodal models first
    for seed in args.seeds:
        trained = {}
        for method in order:
            if method in avf.DECISION_METHODS:
                unimodal = trained if all(m in trained for m in avf.UNIMODAL) else None
                result = avf.train_method(method, features, epochs=epochs, seed=seed, device=device, unimodal=unimodal)
            else:
                result = trained[method] = avf.train_method(method, features, epochs=epochs, seed=seed, device=device)
            row = result.row
            runs[method].append(row)
            print(f"seed {seed} {row['name']:50s} accuracy {row['accuracy']:.3f} macro F1 {row['macro_f1']:.3f} "
                  f"{row['seconds']:6.1f} s", flush=True)
    rows = [summarize(m, runs[m]) for m in args.methods]
    report = {
        "benchmark": "fusion_av_digits",
        "mode": "fast" if fast else "full",
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "epochs": epochs,
        "seeds": args.seeds,
        "optimizer": "adam",
        "test_size": len(features.splits["test"]["label"]),
        "dataset_version": av_digits.VERSION,
        "dataset_params": dataset_params,
        "dataset_changes": changes,
        "rows": rows,
        "margin": margin(rows),
        "total_seconds": round(time.perf_counter() - start, 1),
    }
    write_report(output_dir, "fusion_av_digits", report, markdown(report))
    print(markdown(report))
    print(f"written to {output_dir}")


if __name__ == "__main__":
    main()
