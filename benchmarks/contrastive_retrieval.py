"""Benchmark: notebook 11's contrastive alignment and cross-modal retrieval, in full mode.

Two pairs of modalities, each aligned by two towers trained only with the symmetric InfoNCE
loss (``course_lib.experiments.contrastive``, the code the notebook runs):

- AV-Digits, image <-> speech: zero-shot digit classification of the test images from the ten
  digit words spoken by the test voices (never heard in training), and class-level retrieval
  both ways (precision@10, mAP); plain InfoNCE (pairs only) and InfoNCE with the other pairs of
  the same digit masked out of the negatives (uses the digit labels).
- Sort-of-CLEVR-Text, image <-> caption: instance-level Recall@1, 5, 10 both ways among the
  held-out test scenes, with a text tower learned from scratch and a frozen all-MiniLM-L6-v2
  with a learned projection (locked text)::

    python benchmarks/contrastive_retrieval.py --threads 1            # full mode, seeds 0 1 2
    python benchmarks/contrastive_retrieval.py --seeds 0 --parts av   # one seed, AV-Digits only
    python benchmarks/contrastive_retrieval.py --fast                 # a quick check on the small data
    python benchmarks/contrastive_retrieval.py --merge av.json captions.json   # join runs of the two parts
    python benchmarks/contrastive_retrieval.py --render benchmarks/results/contrastive_retrieval.json  # rewrite its .md only

It writes ``contrastive_retrieval.md`` and ``.json`` to ``benchmarks/results/`` (full mode, every
part) or to ``artifacts/benchmarks/`` otherwise: per model the median over the seeds, every seed's
value and the spread. Targets: zero-shot accuracy within 5 points of the supervised image-only
model of notebook 03 (``fusion_av_digits.json``) or above it; caption -> image Recall@1 >= 80 %.
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
from course_lib.data import sort_of_clevr as soc
from course_lib.experiments import contrastive as con

from report import write_report

RESULTS = Path(__file__).resolve().parent / "results"
ZERO_SHOT_MARGIN_POINTS = 5.0
CAPTION_R1_TARGET = 0.80
AV_METRICS = ("zero_shot", "image_to_audio_P@10", "image_to_audio_mAP", "audio_to_image_P@10", "audio_to_image_mAP")
CAPTION_METRICS = tuple(f"{d}_R@{k}" for d in ("caption_to_image", "image_to_caption") for k in con.KS)
AV_NAMES = {"plain": "InfoNCE", "masked": "InfoNCE, same-digit pairs masked"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--parts", nargs="+", choices=("av", "captions"), default=["av", "captions"])
    parser.add_argument("--fast", action="store_true", help="the small fast-mode data, written to artifacts/")
    parser.add_argument("--device", default=None, help="e.g. cpu or cuda (default: the best available)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--output-dir", type=Path, default=None)
    parser.add_argument("--merge", type=Path, nargs="+", default=None, metavar="JSON",
                        help="join the reports of full-mode runs of single parts (same seeds and threads) into one table")
    parser.add_argument("--render", type=Path, default=None, metavar="JSON",
                        help="rewrite the markdown table next to an existing report from its JSON (no training; "
                             "the JSON is left as it is)")
    return parser.parse_args()


def merge(paths: list[Path]) -> dict:
    """One report from reports of the same mode, seeds and thread count that each ran some parts."""
    reports = [json.loads(path.read_text()) for path in paths]
    for key in ("mode", "seeds", "torch_threads", "device"):
        if len({json.dumps(r[key]) for r in reports}) != 1:
            raise SystemExit(f"--merge: the reports differ in {key}: {[r[key] for r in reports]}")
    merged = {k: v for r in reports for k, v in r.items() if k not in ("rows", "targets", "total_seconds")}
    merged["rows"] = [row for r in reports for row in r["rows"]]
    merged["total_seconds"] = sum(r["total_seconds"] for r in reports)
    merged["merged_from"] = [str(p) for p in paths]
    if "supervised_image_only" in merged:  # the reference as its table stands now
        merged["supervised_image_only"] = supervised_image_only()
    merged["targets"] = targets(merged)
    return merged


def summarize(runs: list[dict], metrics: tuple[str, ...]) -> dict:
    """One table row from the rows of several seeds: the median of each metric, every seed's value."""
    row = {key: runs[0][key] for key in ("pair", "method", "signal", "parameters", "image_tower") if key in runs[0]}
    row.update(name=runs[0].get("name", AV_NAMES.get(runs[0]["method"], runs[0]["method"])),
               seeds=[r["seed"] for r in runs], seconds=statistics.median(r["seconds"] for r in runs),
               temperature_per_seed=[r["temperature"] for r in runs],
               best_epoch_per_seed=[r["best_epoch"] for r in runs], epochs=runs[0]["epochs"])
    if "trainable_parameters" in runs[0]:
        row["trainable_parameters"] = runs[0]["trainable_parameters"]
    for metric in metrics:
        values = [r[metric] for r in runs]
        row[metric] = statistics.median(values)
        row[f"{metric}_per_seed"] = values
    return row


def supervised_image_only() -> float | None:
    """Median test accuracy of notebook 03's image-only model, from its benchmark table."""
    path = RESULTS / "fusion_av_digits.json"
    if not path.exists():
        return None
    rows = json.loads(path.read_text())["rows"]
    return next((r["accuracy"] for r in rows if r["method"] == "image"), None)


def targets(report: dict) -> dict:
    result = {}
    plain = next((r for r in report["rows"] if r["pair"] == "image-speech" and r["method"] == "plain"), None)
    reference = report.get("supervised_image_only")
    if plain and reference is not None:
        gap = 100 * (plain["zero_shot"] - reference)
        result["zero_shot"] = {"median": plain["zero_shot"], "reference": reference, "gap_points": round(gap, 2),
                               "met": gap >= -ZERO_SHOT_MARGIN_POINTS}
    captions = [r for r in report["rows"] if r["pair"] == "image-caption"]
    if captions:
        best = max(captions, key=lambda r: r["caption_to_image_R@1"])
        result["caption_to_image_R@1"] = {"best": best["method"], "image_tower": best["image_tower"],
                                          "median": best["caption_to_image_R@1"],
                                          "target": CAPTION_R1_TARGET,
                                          "met": best["caption_to_image_R@1"] >= CAPTION_R1_TARGET}
    return result


def pct(values: list[float]) -> str:
    return ", ".join(f"{100 * v:.1f}" for v in values)


def per_seed(values: list[float]) -> str:
    return ", ".join(f"{v:.3f}" for v in values)


def caption_epochs(report: dict) -> str:
    """The caption epochs in words: '12 epochs for every model', or '12 epochs (30 for the CNN from pixels)'."""
    epochs, cnn = report["caption_epochs"], report.get("caption_cnn_epochs", report["caption_epochs"])
    return f"{epochs} epochs for every model" if cnn == epochs else f"{epochs} epochs ({cnn} for the CNN from pixels)"


def verdict(target: dict) -> str:
    """'met' or 'not met', for a target entry of the report."""
    return "met" if target["met"] else "not met"


def markdown(report: dict) -> str:
    seeds = " ".join(str(s) for s in report["seeds"])
    lines = [
        "# Contrastive alignment and cross-modal retrieval",
        "",
        f"Written by `benchmarks/contrastive_retrieval.py` on {report['created_utc'][:10]} in {report['mode']} mode: "
        f"seeds {seeds}, device `{report['device']}` (torch threads: {report['torch_threads']}). Every model is two "
        "towers trained with the symmetric InfoNCE loss at a learned temperature (AdamW, cosine schedule; the "
        "epoch with the lowest validation loss is kept). Numbers are medians over the seeds, with every seed's "
        "value; training seconds are the median wall-clock time of `fit` on a shared machine, so they are noisy.",
    ]
    av = [r for r in report["rows"] if r["pair"] == "image-speech"]
    if av:
        lines += [
            "", "## AV-Digits: image <-> speech", "",
            f"{report['av_epochs']} epochs, batches of {con.AV_BATCH_SIZE} pairs. Test split: {report['av_test_size']} "
            "images and clips, spoken by voices that never occur in training. **Zero-shot**: each test image gets the "
            "digit whose spoken prompts are closest (the ten digit words said by the "
            f"{len(av_digits.TEST_VOICES)} test voices at {len(con.PROMPT_SETTINGS)} rates and pitches, each mixed "
            f"{con.PROMPT_MIXES} times with background noise as the dataset's clips are: "
            f"{report['prompts']} prompt clips, none of them a test clip). **Retrieval** is class-level: a retrieved "
            "item is right when it has the query's digit.",
            "",
            "| model | training signal | zero-shot accuracy | zero-shot per seed | image -> clip P@10 | image -> clip mAP "
            "| image -> clip mAP per seed | clip -> image P@10 | clip -> image mAP | clip -> image mAP per seed "
            "| learned temperature | training seconds |",
            "| --- | --- | ---: | --- | ---: | ---: | --- | ---: | ---: | --- | --- | ---: |",
        ]
        for r in av:
            temps = ", ".join(f"{t:.3f}" for t in r["temperature_per_seed"])
            lines.append(f"| {r['name']} | {r['signal']} | {100 * r['zero_shot']:.1f} % | {pct(r['zero_shot_per_seed'])} | "
                         f"{100 * r['image_to_audio_P@10']:.1f} % | {r['image_to_audio_mAP']:.3f} | "
                         f"{per_seed(r['image_to_audio_mAP_per_seed'])} | "
                         f"{100 * r['audio_to_image_P@10']:.1f} % | {r['audio_to_image_mAP']:.3f} | "
                         f"{per_seed(r['audio_to_image_mAP_per_seed'])} | {temps} | {r['seconds']:.0f} |")
        target = report["targets"].get("zero_shot")
        if target:
            lines += ["", f"Supervised image-only model of notebook 03 (trained on the digit labels, "
                          f"`fusion_av_digits.md`, median of its seeds): {100 * target['reference']:.1f} %. "
                          f"Zero-shot (pairs only) minus it: "
                          f"**{target['gap_points']:+.1f} points** (target: no more than {ZERO_SHOT_MARGIN_POINTS:.0f} "
                          f"below; {verdict(target)})."]
    caps = [r for r in report["rows"] if r["pair"] == "image-caption"]
    if caps:
        lines += [
            "", "## Sort-of-CLEVR-Text: image <-> caption", "",
            f"Batches of {con.CAPTION_BATCH_SIZE} pairs, {caption_epochs(report)}. Instance-level retrieval among "
            f"the {report['caption_test_size']} held-out test scenes (its own caption is the one right answer; no two test "
            "scenes share a caption). Training signal: the (scene, caption) pairs only. Image towers: the palette slots "
            "are a fixed front end (the pixels of each of the six palette colours, summarized by area, centre and "
            "spread, computed once) read by a learned MLP; the CNN learns from the pixels.",
            "",
            "| text tower | image tower | caption -> image R@1 | R@5 | R@10 | image -> caption R@1 | R@5 | R@10 | "
            "caption -> image R@1 per seed | image -> caption R@1 per seed | trainable parameters | training seconds |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: |",
        ]
        for r in caps:
            cells = " | ".join(f"{100 * r[m]:.1f} %" for m in CAPTION_METRICS)
            lines.append(f"| {r['name']} | {con.IMAGE_TOWERS[r['image_tower']]} | {cells} | "
                         f"{pct(r['caption_to_image_R@1_per_seed'])} | "
                         f"{pct(r['image_to_caption_R@1_per_seed'])} | {r['trainable_parameters']:,} | {r['seconds']:.0f} |")
        target = report["targets"].get("caption_to_image_R@1")
        if target:
            lines += ["", f"Best caption -> image Recall@1 ({con.TEXT_TOWERS[target['best']]}, "
                          f"{con.IMAGE_TOWERS[target['image_tower']]}): "
                          f"**{100 * target['median']:.1f} %** (target: at least {100 * target['target']:.0f} %; "
                          f"{verdict(target)})."]
    merged = " (the sum of its parts, run side by side)" if report.get("merged_from") else ""
    lines += ["", f"Total benchmark time: {report['total_seconds']:.0f} s{merged}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    if args.render:
        report = json.loads(args.render.read_text())
        path = (args.output_dir or args.render.parent) / f"{args.render.stem}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(markdown(report), encoding="utf-8")
        print(markdown(report))
        print(f"written to {path}")
        return
    if args.merge:
        report = merge(args.merge)
        output_dir = args.output_dir or (RESULTS if report["mode"] == "full" else config.artifacts_dir() / "benchmarks")
        write_report(output_dir, "contrastive_retrieval", report, markdown(report))
        print(markdown(report))
        return
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    fast = args.fast
    device = config.get_device(args.device)
    official = not fast and set(args.parts) == {"av", "captions"}
    output_dir = args.output_dir or (RESULTS if official else config.artifacts_dir() / "benchmarks")
    start = time.perf_counter()
    report = {"benchmark": "contrastive_retrieval", "mode": "fast" if fast else "full",
              "device": str(device),
              "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
              "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "seeds": args.seeds,
              "av_digits_version": av_digits.VERSION, "sort_of_clevr_version": soc.VERSION, "rows": []}
    if "av" in args.parts:
        features = con.load_av_digits(fast=fast)
        prompts = con.spoken_prompts(features.frontend)
        epochs = 2 if fast else con.AV_EPOCHS
        report.update(av_epochs=epochs, av_test_size=len(features.splits["test"]["label"]),
                      prompts=len(prompts["label"]), supervised_image_only=supervised_image_only())
        for method in ("plain", "masked"):
            runs = []
            for seed in args.seeds:
                row = con.train_av_digits(features, epochs=epochs, seed=seed, mask_same_digit=method == "masked",
                                          prompts=prompts, device=device).row
                runs.append(row)
                print(f"seed {seed} AV-Digits {method:6s} zero-shot {row['zero_shot']:.3f} "
                      f"image->audio mAP {row['image_to_audio_mAP']:.3f} {row['seconds']:.0f} s", flush=True)
            report["rows"].append(summarize(runs, AV_METRICS))
    if "captions" in args.parts:
        data = con.load_captions(fast=fast)
        con.add_locked_text(data, device=device)
        epochs = 2 if fast else con.CAPTION_EPOCHS
        report.update(caption_epochs=epochs, caption_test_size=len(data.splits["test"]["label"]))
        cnn_epochs = 2 if fast else con.CAPTION_CNN_EPOCHS
        report.update(caption_cnn_epochs=cnn_epochs)
        for tower, image_tower in (("scratch", "slots"), ("locked", "slots"), ("scratch", "cnn")):
            runs = []
            for seed in args.seeds:
                row = con.train_captions(data, tower, epochs=cnn_epochs if image_tower == "cnn" else epochs, seed=seed,
                                         image_tower=image_tower, device=device).row
                runs.append(row)
                print(f"seed {seed} captions {tower:7s} {image_tower:5s} caption->image R@1 {row['caption_to_image_R@1']:.3f} "
                      f"image->caption R@1 {row['image_to_caption_R@1']:.3f} {row['seconds']:.0f} s", flush=True)
            report["rows"].append(summarize(runs, CAPTION_METRICS))
    report["created_utc"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    report["targets"] = targets(report)
    report["total_seconds"] = round(time.perf_counter() - start, 1)
    write_report(output_dir, "contrastive_retrieval", report, markdown(report))
    print(markdown(report))
    print(f"written to {output_dir}")


if __name__ == "__main__":
    main()
