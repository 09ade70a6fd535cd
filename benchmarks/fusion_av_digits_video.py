"""Benchmark: audio-video fusion with TCNs on AV-Digits-Video (the table of notebook 09), in full mode.

Every model comes from ``course_lib.experiments.av_digits_video_fusion``, the code the
notebook runs, and is scored on the 500 test clips::

    python benchmarks/fusion_av_digits_video.py                  # full mode: headline and single-task seeds 0 1 2,
                                                                 # the rest seed 0
    python benchmarks/fusion_av_digits_video.py --seeds 0        # one seed of the headline and single-task models
    python benchmarks/fusion_av_digits_video.py --fast           # a quick check on the small data
    python benchmarks/fusion_av_digits_video.py --methods late   # only some of the models
    python benchmarks/fusion_av_digits_video.py --jobs 3 --threads 1   # three models at once
    python benchmarks/fusion_av_digits_video.py --methods sync --update  # rerun one model, keep the other rows

It writes ``fusion_av_digits_video.md`` and ``.json`` to ``benchmarks/results/`` (full mode)
or ``artifacts/benchmarks/`` (``--fast``): for the headline multitask model (late fusion of
the two TCN sequences, digit + motion + voice heads) the mean and spread over the seeds of
every task's test accuracy and macro F1, the accuracy by degradation and the modality
ablation (one modality's input zeroed at test time); the single-task models (one per task,
trained on that task alone) with the same seeds, beside the multitask model seed by seed; for
the other models (audio-only and video-only TCN, attention over time, audio-visual synchrony,
the multimodal autoencoder) one seed's row; training seconds, parameters and the device. The
synchrony model sees twice as many pairs as there are clips, so it gets half the epochs; the
autoencoder gets ``AUTOENCODER_EPOCHS`` (scaled like the others with ``--epochs``). The
design's target: digit >= 97% and motion >= 99% with the multitask TCN.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import torch

from course_lib import config
from course_lib.data import av_digits_video as avdv
from course_lib.experiments import av_digits_video_fusion as avf

from report import write_report

TARGETS = {"digit_accuracy": 0.97, "motion_accuracy": 0.99}
SINGLE = list(avf.SINGLE_TASK.values())
OTHERS = [m for m in avf.METHODS if m != avf.HEADLINE and m not in SINGLE] + ["sync", "autoencoder"]
HEADLINE_KEYS = ("digit_accuracy", "motion_accuracy", "voice_accuracy", "digit_macro_f1", "motion_macro_f1",
                 "voice_macro_f1", "digit_accuracy_none", "digit_accuracy_video", "digit_accuracy_audio",
                 "position_error_px", "seconds")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="seeds of the headline and single-task models")
    parser.add_argument("--methods", nargs="+", choices=[avf.HEADLINE, *SINGLE, *OTHERS],
                        default=[avf.HEADLINE, *SINGLE, *OTHERS])
    parser.add_argument("--epochs", type=int, default=None, help=f"default: {avf.EPOCHS} (2 with --fast)")
    parser.add_argument("--fast", action="store_true", help="the small fast-mode data, written to artifacts/")
    parser.add_argument("--device", default=None, help="e.g. cpu or cuda (default: the best available)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--jobs", type=int, default=1, help="models trained at once, each in its own process")
    parser.add_argument("--update", action="store_true",
                        help="keep the rows of the models not run this time from the existing results file")
    parser.add_argument("--output-dir", type=Path, default=None)
    return parser.parse_args()


def spread(values: list[float]) -> dict:
    """Mean, standard deviation (0 for one value), min and max."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}


_TENSORS: dict[bool, avf.VideoAudioTensors] = {}


def _start_worker(tensors: avf.VideoAudioTensors, fast: bool) -> None:
    """Give a worker process the tensors computed once by the main process."""
    _TENSORS[fast] = tensors


def run_job(method: str, seed: int, epochs: int, fast: bool, device_name: str | None,
            threads: int | None) -> dict:
    """Train one model and return its row (plus, for the headline model, the modality ablation).

    Runs in the main process or in a worker process (``--jobs``); both find the tensors in ``_TENSORS``.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    tensors, device = _TENSORS[fast], config.get_device(device_name)
    if method == "sync":  # twice as many pairs as clips: half the epochs gives the same number of steps
        return {"row": avf.train_synchrony(tensors, epochs=max(1, epochs // 2), seed=seed, device=device).row}
    if method == "autoencoder":
        ae_epochs = max(1, avf.AUTOENCODER_EPOCHS * epochs // avf.EPOCHS)
        return {"row": avf.train_autoencoder(tensors, epochs=ae_epochs, seed=seed, device=device).row}
    result = avf.train_method(method, tensors, epochs=epochs, seed=seed, device=device)
    job = {"row": result.row}
    if method == avf.HEADLINE:
        job["ablation"] = {zero or "none": avf.task_scores(result.model, tensors, zero=zero, device=device)
                           for zero in (None, "video", "audio")}
    return job


def pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def markdown(report: dict) -> str:
    """The results file that notebook 09 displays."""
    head = report.get("headline")
    threads = f"{report['torch_threads']} thread" + ("s" if report["torch_threads"] != 1 else "")
    lines = ["# Audio-video fusion on AV-Digits-Video", "",
             f"Written by `benchmarks/fusion_av_digits_video.py` on {report['created_utc'][:10]} in {report['mode']} "
             f"mode on `{report['device']}` ({report['device_name']}, torch {report['torch']}, "
             f"{threads}): AdamW with a cosine schedule, {report['epochs']} epochs, batch "
             f"{avf.BATCH_SIZE}; the weights of the best validation epoch are scored on the {report['test_size']} test "
             "clips. Training seconds are wall-clock on a CPU shared with other jobs: upper bounds.", ""]
    if head:
        seeds = " ".join(str(s) for s in head["seeds"])
        lines += [f"## Headline: {avf.METHODS[avf.HEADLINE][0]}, seeds {seeds}", "",
                  "| | digit | motion | voice | training seconds |", "| --- | ---: | ---: | ---: | ---: |"]
        for run in head["runs"]:
            lines.append(f"| seed {run['seed']} | {pct(run['digit_accuracy'])} % | {pct(run['motion_accuracy'])} % | "
                         f"{pct(run['voice_accuracy'])} % | {run['seconds']:.0f} |")
        s = head["summary"]
        lines.append(f"| **mean (std)** | **{pct(s['digit_accuracy']['mean'])} % ({pct(s['digit_accuracy']['std'])})** | "
                     f"**{pct(s['motion_accuracy']['mean'])} % ({pct(s['motion_accuracy']['std'])})** | "
                     f"**{pct(s['voice_accuracy']['mean'])} % ({pct(s['voice_accuracy']['std'])})** | "
                     f"{s['seconds']['mean']:.0f} |")
        verdict = ", ".join(f"{k.split('_')[0]} >= {100 * v:.0f}%: {'met' if head['targets_met'][k] else 'not met'}"
                            for k, v in TARGETS.items())
        lines += ["", f"Target (mean over the seeds): {verdict}.", "",
                  "Macro F1 (mean): " + ", ".join(f"{t} {pct(s[f'{t}_macro_f1']['mean'])} %"
                                                  for t in ("digit", "motion", "voice")) +
                  f". Digit located within {s['position_error_px']['mean']:.2f} pixels on average.", "",
                  "Digit accuracy by degradation (mean): " + ", ".join(
                      f"{name} {pct(s[f'digit_accuracy_{name}']['mean'])} %" for name in avdv.DEGRADED) + ".", "",
                  "### Modality ablation: one input zeroed at test time (mean over the seeds)", "",
                  "| input | digit | motion | voice |", "| --- | ---: | ---: | ---: |"]
        for zero, scores in head["ablation"].items():
            label = "both" if zero == "none" else f"{zero} zeroed"
            lines.append(f"| {label} | {pct(scores['digit_accuracy'])} % | {pct(scores['motion_accuracy'])} % | "
                         f"{pct(scores['voice_accuracy'])} % |")
    single = report.get("single_task")
    if head and single:
        lines += ["", "## Multitask versus single task", "",
                  "Each single-task model is trained on its task alone, with no other loss (no centre regression): "
                  + "; ".join(f"{t}: {avf.METHODS[m][0]}" for t, m in avf.SINGLE_TASK.items()) + ".", "",
                  "| seed | digit: multitask | digit: single | motion: multitask | motion: single | "
                  "voice: multitask | voice: single |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for run in head["runs"]:
            cells = []
            for task, method in avf.SINGLE_TASK.items():
                match = [r for r in single["runs"] if r["method"] == method and r["seed"] == run["seed"]]
                cells += [pct(run[f"{task}_accuracy"]) + " %", pct(match[0][f"{task}_accuracy"]) + " %" if match else "–"]
            lines.append(f"| {run['seed']} | " + " | ".join(cells) + " |")
        cells = []
        for task, method in avf.SINGLE_TASK.items():
            s_runs = single["summary"].get(method)
            cells += [f"**{pct(head['summary'][f'{task}_accuracy']['mean'])} %**",
                      f"**{pct(s_runs[f'{task}_accuracy']['mean'])} %**" if s_runs else "–"]
        lines.append("| **mean** | " + " | ".join(cells) + " |")
    if report["others"]:
        lines += ["", f"## Other models (seed {report['others'][0]['seed']})", "",
                  "| model | digit | motion | voice | sync | digit macro F1 | parameters | training seconds |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        rows = ([{**head["runs"][0], "name": avf.METHODS[avf.HEADLINE][0]}] if head else []) + report["others"]
        for row in rows:
            cells = [pct(row.get(f"{t}_accuracy")) for t in ("digit", "motion", "voice", "sync")]
            cells = [f"{c} %" if c else "–" for c in cells]
            f1 = row.get("digit_macro_f1")
            lines.append(f"| {row['name']} | {' | '.join(cells)} | {pct(f1) + ' %' if f1 else '–'} | "
                         f"{row['parameters']:,} | {row['seconds']:.0f} |")
        notes = [row for row in report["others"] if row["method"] == "autoencoder"]
        if notes:
            ae = notes[0]
            lines += ["", "The autoencoder is trained without labels; its row is a logistic regression on its "
                          "32-number codes, fitted on the training clips and scored on the test clips (chance: digit "
                          "10 %, motion 12.5 %, voice 16.7 %). Test reconstruction error, each modality's squared "
                          "error divided by that of the per-pixel mean training clip (1 = no better than the mean "
                          f"clip, 0 = perfect): video {ae['video_error']:.3f}, audio {ae['audio_error']:.3f} with "
                          f"both inputs; the audio rebuilt from the video alone {ae['audio_from_video']:.3f}, the "
                          f"video from the audio alone {ae['video_from_audio']:.3f}."]
    lines += ["", f"Total benchmark time: {report['total_seconds']:.0f} s."]
    return "\n".join(lines) + "\n"


def merged(previous: dict, report: dict) -> dict:
    """``report`` plus the headline and the rows of ``previous`` for the models it did not run."""
    ran = {row["method"] for row in report["others"]}
    others = [row for row in previous["others"] if row["method"] not in ran] + report["others"]
    order = {method: i for i, method in enumerate(OTHERS)}
    return {**report, "headline": report["headline"] or previous["headline"],
            "single_task": report["single_task"] or previous.get("single_task"),
            "others": sorted(others, key=lambda row: order[row["method"]]),
            "total_seconds": round(previous["total_seconds"] + report["total_seconds"], 1)}


def main() -> None:
    args = parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    epochs = args.epochs or (2 if args.fast else avf.EPOCHS)
    device = config.get_device(args.device)
    output_dir = args.output_dir or (Path(__file__).resolve().parent / "results" if not args.fast
                                     else config.artifacts_dir() / "benchmarks")
    start = time.perf_counter()
    tensors = avf.load_tensors(fast=args.fast)
    _TENSORS[args.fast] = tensors
    report = {"benchmark": "fusion_av_digits_video", "mode": "fast" if args.fast else "full",
              "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "device": str(device),
              "device_name": (torch.cuda.get_device_name(device) if device.type == "cuda"
                              else platform.processor() or platform.machine()),
              "torch": torch.__version__, "torch_threads": args.threads or torch.get_num_threads(), "epochs": epochs,
              "jobs": args.jobs, "test_size": len(tensors.splits["test"]["digit"]), "dataset_version": avdv.VERSION,
              "headline": None, "single_task": None, "others": []}
    jobs = [(avf.HEADLINE, seed) for seed in args.seeds if avf.HEADLINE in args.methods]
    jobs += [(method, seed) for method in SINGLE if method in args.methods for seed in args.seeds]
    jobs += [(method, args.seeds[0]) for method in OTHERS if method in args.methods]
    settings = (epochs, args.fast, args.device, args.threads)
    if args.jobs > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context, initializer=_start_worker,
                                 initargs=(tensors, args.fast)) as pool:
            done = list(pool.map(run_job, *zip(*[(m, s, *settings) for m, s in jobs])))
    else:
        done = [run_job(m, s, *settings) for m, s in jobs]
    runs = [job["row"] for job in done if job["row"]["method"] == avf.HEADLINE]
    for run in runs:
        print(f"seed {run['seed']}: " + ", ".join(f"{k} {run[k]:.3f}" for k in HEADLINE_KEYS), flush=True)
    if runs:
        ablations = [job["ablation"] for job in done if "ablation" in job]
        summary = {k: spread([r[k] for r in runs]) for k in HEADLINE_KEYS}
        report["headline"] = {
            "method": avf.HEADLINE, "seeds": args.seeds, "runs": runs, "summary": summary,
            "ablation": {z: {k: statistics.fmean(a[z][k] for a in ablations)
                             for k in ("digit_accuracy", "motion_accuracy", "voice_accuracy")}
                         for z in ("none", "video", "audio")},
            "targets_met": {k: summary[k]["mean"] >= v for k, v in TARGETS.items()}}
    single_runs = [job["row"] for job in done if job["row"]["method"] in SINGLE]
    if single_runs:
        summary = {method: {f"{task}_accuracy": spread([r[f"{task}_accuracy"] for r in single_runs
                                                        if r["method"] == method])}
                   for task, method in avf.SINGLE_TASK.items() if any(r["method"] == method for r in single_runs)}
        report["single_task"] = {"seeds": args.seeds, "runs": single_runs, "summary": summary}
        for row in single_runs:
            print(f"{row['name']}, seed {row['seed']}: {row['tasks'][0]} {row[row['tasks'][0] + '_accuracy']:.3f}",
                  flush=True)
    report["others"] = [job["row"] for job in done if job["row"]["method"] in OTHERS]
    for row in report["others"]:
        print(f"{row['name']}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()
                                             if k.endswith("accuracy") or k == "seconds"), flush=True)
    report["total_seconds"] = round(time.perf_counter() - start, 1)
    previous = output_dir / "fusion_av_digits_video.json"
    if args.update and previous.exists():
        report = merged(json.loads(previous.read_text()), report)
    write_report(output_dir, "fusion_av_digits_video", report, markdown(report))
    print(markdown(report))
    print(f"written to {output_dir} in {report['total_seconds']:.0f} s")


if __name__ == "__main__":
    main()
