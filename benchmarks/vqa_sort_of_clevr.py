"""Benchmark: visual question answering on Sort-of-CLEVR-Text (notebook 06's table), in full mode.

Each method of ``course_lib.experiments.sort_of_clevr_vqa`` (the code the notebook runs) is
trained with its own budget and scored on the 10,000 questions of the 500 test images:

1. The baselines (``LR_SEARCH_EPOCHS``: CNN + MLP with coded questions and with sentences,
   cross-modal attention, FiLM) first get a learning rate: each of ``LR_CANDIDATES`` trains
   seed 0 for a few epochs, and the best validation accuracy wins.
2. Every method then trains with every seed (``ONE_SEED``: the first seed only), the
   baselines until the validation accuracy stops improving (``PATIENCE``, at most ``EPOCHS``).

``--jobs 2`` trains two models at once, each on one CPU thread. The trained weights are kept
under ``artifacts/vqa_weights/``, where notebook 06 finds the seed-0 models::

    python benchmarks/vqa_sort_of_clevr.py --jobs 2                 # full mode, every method (about an hour)
    python benchmarks/vqa_sort_of_clevr.py --methods colour_slots   # one method, seeds 0 1 2
    python benchmarks/vqa_sort_of_clevr.py --jobs 2 --methods film --keep   # run one again, keep the other rows
    python benchmarks/vqa_sort_of_clevr.py --methods relational --seeds 0 --keep   # one seed again, keep the others
    python benchmarks/vqa_sort_of_clevr.py --fast --epochs 1        # a quick check on the small data

It writes ``vqa_sort_of_clevr.md`` and ``vqa_sort_of_clevr.json`` to ``benchmarks/results/``
(full mode) or to ``artifacts/benchmarks/`` (``--fast`` or ``--epochs``): per method its
training signal, the mean and the spread (min to max) over the seeds of the accuracy per
question type and subtype, macro recall and F1 over the answers, and the training seconds,
every seed's row, the learning-rate search, and the Relation Networks paper's numbers.
The course design's targets: for the best answers-only model, relational >= 95 % and
non-relational >= 99 % on every seed in at most 15 minutes of training on 2 CPU cores; for
the best model that also learns from annotations, relational >= 98 %, non-relational >= 99.5 %,
at most 10 minutes.
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
from course_lib.data import sort_of_clevr as soc
from course_lib.experiments import sort_of_clevr_vqa as vqa

from report import write_report

SCORES = ("accuracy", *soc.QTYPES, *soc.SUBTYPES, "macro_recall", "macro_f1")
#: The course design's targets, per training signal: for the best model that learns from the answers alone,
#: and for the best one that also learns from annotations (the multitask lesson).
TARGETS = {"answers": {"relational": 0.95, "non-relational": 0.99, "seconds": 900.0},
           "annotations": {"relational": 0.98, "non-relational": 0.995, "seconds": 600.0}}
#: Methods trained with the first seed only: ablations whose one run says enough.
ONE_SEED = ("relational_answers_only", "colour_slots_no_readout")
PAPER = [  # Santoro et al. (2017), Sort-of-CLEVR with binary-coded questions, 200 test images; answers only
    ("CNN + MLP (paper), coded questions", "above 94 %", "63 %"),
    ("CNN + RN (paper), coded questions", "above 94 %", "above 94 %"),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=list(vqa.METHODS), choices=list(vqa.METHODS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="the same number of epochs for every method")
    parser.add_argument("--fast", action="store_true", help="use the small fast-mode data")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (with --jobs 1)")
    parser.add_argument("--jobs", type=int, default=1, help="models trained at once, each on one CPU thread")
    parser.add_argument("--no-search", action="store_true",
                        help="train the baselines with vqa.LEARNING_RATES instead of searching")
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--output-dir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true",
                        help="keep the rows of the methods not run from the results file already there")
    parser.add_argument("--render", type=Path, default=None, metavar="JSON",
                        help="only rewrite the markdown table from an earlier run's JSON file")
    return parser.parse_args()


def summarize(method: str, runs: list[dict]) -> dict:
    """One table row from the rows of several seeds: mean, min and max of every score, and every seed's row."""
    runs = sorted(runs, key=lambda r: r["seed"])
    row = {"method": method, "name": vqa.METHODS[method], "signal": vqa.TRAINING_SIGNAL[method],
           "parameters": runs[0]["parameters"], "epochs": runs[0]["epochs"], "lr": runs[0]["lr"],
           "seeds": [r["seed"] for r in runs], "runs": runs}
    for key in (*SCORES, "seconds", "best_epoch"):
        values = [r[key] for r in runs]
        row[key] = statistics.fmean(values)
        row[f"{key}_min"], row[f"{key}_max"] = min(values), max(values)
    return row


def target(rows: list[dict]) -> dict:
    """Per target (``TARGETS``): whether the best model it covers (highest mean relational accuracy) meets it on
    every seed: the accuracies, and the training seconds (wall-clock, so they also count the other jobs)."""
    result = {}
    for signal, goal in TARGETS.items():
        covered = [r for r in rows if (r["signal"] == "answers") == (signal == "answers")]
        best = max(covered, key=lambda r: r["relational"])
        accuracy = best["relational_min"] >= goal["relational"] and best["non-relational_min"] >= goal["non-relational"]
        result[signal] = {"best": best["method"], "targets": goal, "accuracy_met_on_every_seed": accuracy,
                          "seconds_met_on_every_seed": best["seconds_max"] <= goal["seconds"]}
    return result


def percent(row: dict, key: str) -> str:
    """``98.7 (98.1-99.0)``: mean, then min-max over the seeds, in percent."""
    if len(row["seeds"]) == 1:
        return f"{100 * row[key]:.1f}"
    return f"{100 * row[key]:.1f} ({100 * row[f'{key}_min']:.1f}-{100 * row[f'{key}_max']:.1f})"


def markdown(report: dict) -> str:
    """The results file that notebook 06 displays."""
    seeds = " ".join(str(s) for s in report["seeds"])
    lines = [
        "# Visual question answering on Sort-of-CLEVR-Text",
        "",
        f"Written by `benchmarks/vqa_sort_of_clevr.py` on {report['created_utc'][:10]} in {report['mode']} mode: "
        f"{report['train_images']} training images ({report['train_images'] * 20} questions, as English sentences), "
        f"{report['test_questions']} test questions about {report['test_images']} held-out images; seeds {seeds}; "
        f"device `{report['device']}` ({report['device_name']}), torch {report['torch']}, "
        f"{report['torch_threads']} torch threads. Accuracy in %: the mean over the seeds, then the lowest and "
        "highest seed in brackets. Signal: what the model learns from besides the image and the question. "
        "Epochs: the most it may train, then the best validation epoch (1 = the first) over the seeds; the "
        "baselines stop after a few epochs without improvement. Seconds: training time (`fit`, validation "
        "included) per seed, measured on a 2-core machine shared with other jobs, so they are upper bounds.",
        "",
        "| method | signal | seeds | all | non-relational | relational | macro F1 | parameters | lr | epochs (best) "
        "| seconds |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in report["rows"]:
        best = f"{row['best_epoch_min']:.0f}-{row['best_epoch_max']:.0f}" if len(row["seeds"]) > 1 \
            else f"{row['best_epoch']:.0f}"
        lines.append(f"| {row['name']} | {row['signal']} | {len(row['seeds'])} | {percent(row, 'accuracy')} | "
                     f"{percent(row, 'non-relational')} | {percent(row, 'relational')} | {percent(row, 'macro_f1')} | "
                     f"{row['parameters']:,} | {row['lr']:g} | {row['epochs']} ({best}) | {row['seconds']:.0f} "
                     f"({row['seconds_min']:.0f}-{row['seconds_max']:.0f}) |")
    for name, non_relational, relational in PAPER:
        lines.append(f"| {name} | answers | | | {non_relational} | {relational} | | | | | |")
    lines += ["", "Per question subtype (accuracy in %, mean over the seeds):", "",
              "| method | " + " | ".join(soc.SUBTYPES) + " |", "| --- |" + " ---: |" * len(soc.SUBTYPES)]
    for row in report["rows"]:
        lines.append(f"| {row['name']} | " + " | ".join(percent(row, s) for s in soc.SUBTYPES) + " |")
    search = report.get("lr_search") or {}
    if search:
        lines += ["", "Learning-rate search (validation accuracy in % of seed 0 after a few epochs; the best "
                      "one trains the seeds):", "", "| method | epochs | " + " | ".join(
                          f"lr {lr:g}" for lr in vqa.LR_CANDIDATES) + " | chosen |",
                  "| --- | ---: |" + " ---: |" * (len(vqa.LR_CANDIDATES) + 1)]
        for method, scores in search.items():
            lines.append(f"| {vqa.METHODS[method]} | {vqa.LR_SEARCH_EPOCHS[method]} | "
                         + " | ".join(f"{100 * scores[f'{lr:g}']:.1f}" for lr in vqa.LR_CANDIDATES)
                         + f" | {max(scores, key=scores.get)} |")
    met = {True: "met on every seed", False: "not met on every seed"}
    lines += ["", "Training signals: *answers*: the answers alone. *scene*: every object's centre and shape. "
                  "*question*: the colour each question names, its kind, and the object it names. *hop 2's target*: "
                  "which objects are nearest to and farthest from the named one. Annotations are used in training "
                  "only: at test time every model sees only the image and the question. The coded-question CNN + MLP "
                  "reads the question as the paper did, as a binary code (colour, kind, side), not as a sentence; "
                  "the paper's models also learned from the answers alone."]
    for signal, result in report["target"].items():
        goal = result["targets"]
        label = "answers only" if signal == "answers" else "answers and annotations"
        lines += ["", f"Target, {label}, for the best such model ({vqa.METHODS[result['best']]}): relational >= "
                      f"{100 * goal['relational']:g} % and non-relational >= {100 * goal['non-relational']:g} %: "
                      f"**{met[result['accuracy_met_on_every_seed']]}**; at most {goal['seconds']:.0f} s of training: "
                      f"**{met[result['seconds_met_on_every_seed']]}**."]
    lines += ["", f"Jobs: {report['jobs']} models trained at once on the 2 cores, each on one thread, with any other "
                  "job on the machine; the seconds are wall-clock.",
              "", "The paper's numbers (Santoro et al. 2017) are for binary-coded questions on its own "
                  "Sort-of-CLEVR generator with 200 test images: \"the CNN augmented with an MLP only reached this "
                  "performance [above 94 %] on the non-relational questions, plateauing at 63 % on the relational "
                  "questions\".",
              "", "Benchmark time: " + ", ".join(f"{run['seconds']:.0f} s ({' '.join(run['methods'])})"
                                                  for run in benchmark_runs(report)) + "."]
    return "\n".join(lines) + "\n"


def benchmark_runs(report: dict) -> list[dict]:
    """The script's runs that wrote the report's rows (several with ``--keep``): their methods and wall seconds."""
    return report.get("runs") or [{"methods": [row["method"] for row in report["rows"]],
                                    "seconds": report["total_seconds"]}]


def keep_report(path: Path, args: argparse.Namespace) -> dict | None:
    """The earlier report whose rows ``--keep`` keeps (None if there is none): it must use the same mode, the
    same images, questions and answers (``soc.SAME_QUESTIONS_AS``), and hold every seed of this run."""
    if not path.exists():
        return None
    kept = json.loads(path.read_text())
    mode = "fast" if args.fast else "full"
    if kept.get("mode") != mode or kept.get("dataset_version") not in soc.SAME_QUESTIONS_AS \
            or not set(args.seeds) <= set(kept["seeds"]):
        raise SystemExit(f"--keep: {path} was written in {kept.get('mode')} mode with dataset version "
                         f"{kept.get('dataset_version')} and seeds {kept['seeds']}, not in {mode} mode with a version "
                         f"among {soc.SAME_QUESTIONS_AS} and seeds {args.seeds}; run every method instead")
    return kept


def train_row(method: str, seed: int, fast: bool, epochs: int | None, device_name: str | None, threads: int | None,
              lr: float | None = None, search: bool = False, data: vqa.VQAData | None = None) -> dict:
    """Train one method with one seed and return its table row. A worker process loads ``data`` itself.

    ``search=True``: a short run for the learning-rate search (``LR_SEARCH_EPOCHS``, no early stopping,
    nothing cached); its row also holds the best validation accuracy, ``val_score``."""
    if threads is not None:
        torch.set_num_threads(threads)
    data = data or vqa.load_data(fast=fast)
    device = config.get_device(device_name)
    if search:
        result = vqa.train_method(method, data, seed, epochs=epochs or vqa.LR_SEARCH_EPOCHS[method], lr=lr,
                                  patience=0, device=device)
        row = {**result.row, "val_score": result.fit.best_score}
    else:
        row = vqa.train_method(method, data, seed, epochs=epochs, lr=lr, device=device, cache=True, retrain=True).row
    print(f"{'search ' if search else ''}seed {seed} {row['name']:55s} lr {row['lr']:g} "
          f"non-relational {row['non-relational']:.4f} relational {row['relational']:.4f} {row['seconds']:6.1f} s",
          flush=True)
    return row


def run_all(work: list[tuple], jobs: int, data: vqa.VQAData) -> list[dict]:
    """Run ``train_row`` on every argument tuple of ``work``: in ``jobs`` processes, or here with ``data``."""
    if jobs > 1:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            return list(pool.map(train_row, *zip(*work)))
    return [train_row(*job, data=data) for job in work]


def merge_kept(kept: dict, rows: dict[str, dict], args: argparse.Namespace) -> dict[str, dict]:
    """The rows of this run plus, from the ``--keep`` report, the methods not run and the seeds not run."""
    merged = {}
    for old in kept["rows"]:
        method = old["method"]
        if method not in rows:
            merged[method] = summarize(method, old["runs"])  # summarized again, with today's columns
            merged[method]["dataset_version"] = old.get("dataset_version", kept["dataset_version"])
        else:
            runs = [r for r in old["runs"] if r["seed"] not in args.seeds] + rows[method]["runs"]
            merged[method] = summarize(method, runs)
    return merged | {m: row for m, row in rows.items() if m not in merged}


def main() -> None:
    args = parse_args()
    if args.render is not None:
        report = json.loads(args.render.read_text())
        report["target"] = target(report["rows"])
        path = write_report(args.render.parent, "vqa_sort_of_clevr", report, markdown(report))
        print(f"rewrote {path}")
        return
    threads = 1 if args.jobs > 1 else args.threads
    if threads is not None:
        torch.set_num_threads(threads)
    device = config.get_device(args.device)
    official = not args.fast and args.epochs is None
    output_dir = args.output_dir or (Path(__file__).resolve().parent / "results" if official
                                     else config.artifacts_dir() / "benchmarks")
    kept = keep_report(output_dir / "vqa_sort_of_clevr.json", args) if args.keep else None
    start = time.perf_counter()
    data = vqa.load_data(fast=args.fast)  # generated here once, before any worker reads it
    searched = [m for m in args.methods if m in vqa.LR_SEARCH_EPOCHS and not args.no_search]
    search_work = [(m, args.seeds[0], args.fast, args.epochs, args.device, threads, lr, True)
                   for m in searched for lr in vqa.LR_CANDIDATES]
    lr_search: dict[str, dict[str, float]] = {}
    for row in run_all(search_work, args.jobs, data):
        lr_search.setdefault(row["method"], {})[f"{row['lr']:g}"] = row["val_score"]
    chosen = {m: float(max(scores, key=scores.get)) for m, scores in lr_search.items()}
    jobs = [(m, seed) for m in args.methods for seed in args.seeds if seed == args.seeds[0] or m not in ONE_SEED]
    jobs.sort(key=lambda job: -vqa.EPOCHS[job[0]])  # the longest budgets first
    work = [(m, seed, args.fast, args.epochs, args.device, threads, chosen.get(m)) for m, seed in jobs]
    results = run_all(work, args.jobs, data)
    rows = {m: summarize(m, [r for r in results if r["method"] == m]) for m in args.methods}
    this_run = {"methods": list(args.methods), "seconds": round(time.perf_counter() - start, 1)}
    earlier_runs = []
    if kept is not None:
        rows = merge_kept(kept, rows, args)
        kept_seeds = {row["method"]: set(row["seeds"]) for row in kept["rows"]}
        replaced = {m for m in args.methods if kept_seeds.get(m, set()) <= set(args.seeds)}  # every kept seed run again
        earlier_runs = [{"methods": [m for m in run["methods"] if m not in replaced], "seconds": run["seconds"]}
                        for run in benchmark_runs(kept)]
        lr_search = kept.get("lr_search", {}) | lr_search
    rows = [rows[m] for m in vqa.METHODS if m in rows]
    runs = [run for run in earlier_runs if run["methods"]] + [this_run]
    report = {
        "benchmark": "vqa_sort_of_clevr",
        "mode": "fast" if args.fast else "full",
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.machine(),
        "torch": torch.__version__,
        "torch_threads": threads or torch.get_num_threads(),
        "jobs": args.jobs,
        "seeds": kept["seeds"] if kept is not None else args.seeds,
        "train_images": len(data.splits["train"]["label"]),
        "test_images": len(data.splits["test"]["label"]),
        "test_questions": data.splits["test"]["label"].numel(),
        "dataset_version": soc.VERSION,
        "rows": rows,
        "lr_search": lr_search,
        "target": target(rows),
        "paper": [{"name": n, "non-relational": a, "relational": b} for n, a, b in PAPER],
        "runs": runs,
        "total_seconds": round(sum(run["seconds"] for run in runs), 1),
    }
    path = write_report(output_dir, "vqa_sort_of_clevr", report, markdown(report))
    print(markdown(report))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
