"""Sort-of-CLEVR-Text baselines: can the question alone, or the image alone, answer it?

Five baselines on the test split, each scored on non-relational and relational questions:

- answer prior: the most frequent training answer of each question subtype;
- question only: bag of words + logistic regression (scikit-learn);
- image only: an MLP on 25x25 downsampled pixels, without the question;
- image + subtype: the same MLP, also told the kind of question but not the colour it names;
- fusion: the same MLP on downsampled pixels concatenated with the bag of words.

The question-only model must not beat the answer prior: if it did, the wording would give
the answer away. On the full data the script checks it and exits with status 1 when it does
(the fast data is too small for the check to mean much, so there it is only reported).
It also measures the generation time and the dataset's statistics for the datasheet.
Run from the repository root::

    python benchmarks/dataset_baselines_sort_of_clevr.py          # full data, writes benchmarks/results/
    python benchmarks/dataset_baselines_sort_of_clevr.py --fast   # small data, writes to the artifacts folder
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from torch import nn

from course_lib import config
from course_lib.data import sort_of_clevr as soc
from course_lib.data.text import Vocabulary, tokenize

from report import write_report

PIXELS = 25  # side of the downsampled image fed to the MLPs
LEAK_POINTS = 1.0  # the question-only model may beat a subtype's prior by at most this many points,
# or by two standard errors of that subtype's test accuracy where they are larger
PAPER = {  # Santoro et al. (2017), Sort-of-CLEVR from pixels with binary-coded questions, accuracy %
    "CNN+MLP": {"relational": "63"},
    "CNN+RN": {"non_relational": "above 94", "relational": "above 94"},
}


def scores(predicted: np.ndarray, answer: np.ndarray, subtype: np.ndarray) -> dict[str, float]:
    """Accuracy (%) over all questions, per question type and per subtype."""
    correct = predicted == answer
    result = {
        "all": 100 * correct.mean(),
        "non_relational": 100 * correct[subtype < 3].mean(),
        "relational": 100 * correct[subtype >= 3].mean(),
    }
    for index, name in enumerate(soc.SUBTYPES):
        result[name] = 100 * correct[subtype == index].mean()
    return {key: round(float(value), 2) for key, value in result.items()}


def downsampled_pixels(images: np.ndarray, train: np.ndarray) -> np.ndarray:
    """(N, S, S, 3) uint8 -> (N, PIXELS * PIXELS * 3) float32, area-averaged, then standardized
    with the mean and standard deviation of the ``train`` images (white background -> about 0)."""
    small = [cv2.resize(image, (PIXELS, PIXELS), interpolation=cv2.INTER_AREA) for image in images]
    pixels = np.stack(small).reshape(len(images), -1).astype(np.float32) / 255
    mean, std = pixels[train].mean(axis=0), pixels[train].std(axis=0)
    return (pixels - mean) / (std + 0.05)


def train_mlp(rows: dict[str, np.ndarray], answers: torch.Tensor, question_image: torch.Tensor,
              pixels: torch.Tensor, words: torch.Tensor | None, epochs: int, seed: int = 0) -> np.ndarray:
    """Train a 2-hidden-layer MLP and predict the test questions.

    The input of question ``q`` is ``pixels[question_image[q]]`` (image features, (N, D)),
    followed by ``words[q]`` (question features, (Q, V)) when given. ``rows`` holds the question
    indices of "train", "val" and "test"; the epoch with the best validation accuracy is kept.
    """
    torch.manual_seed(seed)
    width = pixels.shape[1] + (0 if words is None else words.shape[1])
    model = nn.Sequential(nn.Linear(width, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                          nn.Linear(256, len(soc.ANSWERS)))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def inputs(index: np.ndarray) -> torch.Tensor:
        image_part = pixels[question_image[index]]
        return image_part if words is None else torch.cat([image_part, words[index]], dim=1)

    def predict(index: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate([model(inputs(chunk)).argmax(1).numpy() for chunk in np.array_split(index, 50)])

    best_accuracy, best_state = -1.0, None
    generator = np.random.default_rng(seed)
    for _ in range(epochs):
        model.train()
        for batch in np.array_split(generator.permutation(rows["train"]), len(rows["train"]) // 256):
            loss = nn.functional.cross_entropy(model(inputs(batch)), answers[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        accuracy = (predict(rows["val"]) == answers[rows["val"]].numpy()).mean()
        if accuracy > best_accuracy:
            best_accuracy, best_state = accuracy, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return predict(rows["test"])


def statistics(arrays: dict[str, np.ndarray], rows: dict[str, np.ndarray], vocab: Vocabulary) -> dict:
    """Split sizes, answer shares per subtype (%), question lengths in tokens, vocabulary size."""
    lengths = np.array([len(tokenize(t)) for t in arrays["question_text"].tolist()])
    shares = {}
    for index, name in enumerate(soc.SUBTYPES):
        answers = arrays["answer"][arrays["subtype"] == index]
        counts = np.bincount(answers, minlength=len(soc.ANSWERS))
        shares[name] = {soc.ANSWERS[a]: round(100 * counts[a] / len(answers), 2) for a in np.flatnonzero(counts)}
    return {
        "images": {s: int((arrays["image_split"] == i).sum()) for i, s in enumerate(soc.SPLITS)},
        "questions": {s: int(len(rows[s])) for s in soc.SPLITS},
        "questions_per_subtype": {n: int((arrays["subtype"] == i).sum()) for i, n in enumerate(soc.SUBTYPES)},
        "answer_share_percent": shares,
        "question_tokens": {"min": int(lengths.min()), "mean": round(float(lengths.mean()), 2),
                            "max": int(lengths.max())},
        "distinct_questions": int(len(np.unique(arrays["question_text"]))),
        "templates": int(len(arrays["template_text"])),
        "vocabulary_size": len(vocab),
    }


def generation_seconds() -> dict[str, float]:
    """Wall-clock seconds of :func:`soc.generate` with the fast and the full parameters."""
    seconds = {}
    for mode, fast in (("fast", True), ("full", False)):
        start = time.perf_counter()
        soc.generate(soc.default_params(fast), soc.SEED)
        seconds[mode] = round(time.perf_counter() - start, 2)
    return seconds


def markdown(report: dict) -> str:
    """The report as a Markdown page."""
    stats = report["statistics"]
    lines = [
        "# Sort-of-CLEVR-Text baselines",
        "",
        f"Mode: {report['mode']}; {stats['images']['train']} training, {stats['images']['val']} validation and "
        f"{stats['images']['test']} test images; {stats['questions']['test']} test questions. "
        f"Accuracy (%) on the test split. Machine: {report['machine']}.",
        "",
        "| baseline | inputs | all | non-relational | relational | seconds |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for b in report["baselines"]:
        s = b["accuracy"]
        lines.append(f"| {b['name']} | {b['inputs']} | {s['all']:.1f} | {s['non_relational']:.1f} | "
                     f"{s['relational']:.1f} | {b['seconds']:.1f} |")
    lines += ["", "Per subtype:", "", "| baseline | " + " | ".join(soc.SUBTYPES) + " |",
              "| --- |" + " ---: |" * len(soc.SUBTYPES)]
    for b in report["baselines"]:
        lines.append(f"| {b['name']} | " + " | ".join(f"{b['accuracy'][n]:.1f}" for n in soc.SUBTYPES) + " |")
    leak = report["leak_check"]
    lines += [
        "",
        "Leak check (question only minus answer prior, points; allowed: the larger of "
        f"{LEAK_POINTS:.1f} and two standard errors): "
        + ", ".join(f"{n} {v['gain_points']:+.2f} (<= {v['allowed_points']:.2f})" for n, v in leak["per_subtype"].items())
        + f". {'Passed' if leak['passed'] else 'FAILED'}.",
        "",
        "The Relation Networks paper (Santoro et al. 2017), on Sort-of-CLEVR with binary-coded questions: "
        "CNN+MLP 63% relational; CNN+RN above 94% on both question types.",
        "",
        "## Dataset statistics",
        "",
        f"Generation time: {report['generation_seconds']['fast']} s (fast), "
        f"{report['generation_seconds']['full']} s (full). Vocabulary: {stats['vocabulary_size']} tokens "
        f"(with <pad> and <unk>); {stats['templates']} templates; {stats['distinct_questions']} distinct "
        f"questions; question length {stats['question_tokens']['min']}-{stats['question_tokens']['max']} "
        f"tokens (mean {stats['question_tokens']['mean']}).",
        "",
        "| subtype | questions | answer shares (%) |",
        "| --- | ---: | --- |",
    ]
    for name in soc.SUBTYPES:
        shares = ", ".join(f"{a} {p:.1f}" for a, p in stats["answer_share_percent"][name].items())
        lines.append(f"| {name} | {stats['questions_per_subtype'][name]} | {shares} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="use the small fast-mode data")
    parser.add_argument("--epochs", type=int, default=None, help="MLP epochs (default: 3 fast, 8 full)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    epochs = args.epochs or (3 if args.fast else 8)
    if args.threads:
        torch.set_num_threads(args.threads)
    arrays = soc.load_arrays(fast=args.fast)
    split_of_question = arrays["image_split"][arrays["question_image"]]
    rows = {name: np.flatnonzero(split_of_question == i) for i, name in enumerate(soc.SPLITS)}
    answer, subtype, text = arrays["answer"], arrays["subtype"], arrays["question_text"]
    test = rows["test"]
    baselines = []

    def record(name: str, inputs: str, predicted: np.ndarray, seconds: float) -> None:
        baselines.append({"name": name, "inputs": inputs, "seconds": round(seconds, 2),
                          "accuracy": scores(predicted, answer[test], subtype[test])})
        print(f"{name:>14}: {baselines[-1]['accuracy']}  ({seconds:.1f} s)", flush=True)

    start = time.perf_counter()
    majority = {s: np.bincount(answer[rows["train"]][subtype[rows["train"]] == s]).argmax() for s in range(6)}
    record("answer prior", "subtype", np.array([majority[s] for s in subtype[test]]), time.perf_counter() - start)

    start = time.perf_counter()
    bow = CountVectorizer(tokenizer=tokenize, token_pattern=None, lowercase=False)
    words = bow.fit_transform(text[rows["train"]])
    question_model = LogisticRegression(max_iter=1000).fit(words, answer[rows["train"]])
    record("question only", "bag of words", question_model.predict(bow.transform(text[test])),
           time.perf_counter() - start)

    start = time.perf_counter()
    pixels = torch.from_numpy(downsampled_pixels(arrays["images"], arrays["image_split"] == 0))
    question_features = {
        "image only": None,
        "image + subtype": nn.functional.one_hot(torch.from_numpy(subtype), len(soc.SUBTYPES)).float(),
        "fusion": torch.from_numpy(bow.transform(text).toarray().astype(np.float32)),
    }
    described = {"image only": "pixels", "image + subtype": "pixels + subtype (one-hot)",
                 "fusion": "pixels + bag of words"}
    answers, question_image = torch.from_numpy(answer), torch.from_numpy(arrays["question_image"])
    feature_seconds = time.perf_counter() - start
    for name, words in question_features.items():
        start = time.perf_counter()
        predicted = train_mlp(rows, answers, question_image, pixels, words, epochs)
        record(name, f"{PIXELS}x{PIXELS} {described[name]}, MLP", predicted,
               time.perf_counter() - start + feature_seconds)

    prior, question = baselines[0]["accuracy"], baselines[1]["accuracy"]
    leak = {}
    for index, name in enumerate(soc.SUBTYPES):
        n = int((subtype[test] == index).sum())
        p = prior[name] / 100
        allowed = max(LEAK_POINTS, 2 * 100 * np.sqrt(p * (1 - p) / n))
        leak[name] = {"gain_points": round(question[name] - prior[name], 2), "allowed_points": round(float(allowed), 2),
                      "passed": bool(question[name] - prior[name] <= allowed)}
    vocab = Vocabulary.build(text[rows["train"]].tolist())
    report = {
        "dataset": soc.NAME,
        "version": soc.VERSION,
        "mode": "fast" if args.fast else "full",
        "seed": soc.SEED,
        "params": soc.default_params(args.fast),
        "mlp_epochs": epochs,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} "
                   f"with {torch.get_num_threads()} threads",
        "generation_seconds": generation_seconds(),
        "statistics": statistics(arrays, rows, vocab),
        "baselines": baselines,
        "leak_check": {"passed": all(v["passed"] for v in leak.values()), "per_subtype": leak},
        "paper": PAPER,
    }
    folder = config.artifacts_dir() / "benchmarks" if args.fast else Path(__file__).resolve().parent / "results"
    path = write_report(folder, f"{soc.NAME}_baselines", report, markdown(report))
    print(f"wrote {path.with_suffix('.json')} and {path}")
    if not report["leak_check"]["passed"] and not args.fast:
        print("LEAK: the question alone beats the answer prior:", {k: v for k, v in leak.items() if not v["passed"]})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
