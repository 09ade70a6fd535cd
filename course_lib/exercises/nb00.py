"""Checks of notebook 00's exercises: fusion with a useless modality, dataset balance, blind answers, onsets."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from course_lib.exercises.core import close, exercise, require

ROWS = ("A only", "B only", "A + B")


def _split_scores(features: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Section 2's recipe: a 50/50 split (random_state=0), one logistic regression per column set."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(features, labels, test_size=0.5, random_state=0)
    scores = {}
    for name, columns in {"A only": [0], "B only": [1], "A + B": [0, 1]}.items():
        model = LogisticRegression().fit(x_train[:, columns], y_train)
        scores[name] = model.score(x_test[:, columns], y_test)
    return scores


@exercise("00", 1)
def exercise_1(accuracy_2: Mapping[str, float], feature_a: np.ndarray, labels: np.ndarray) -> str:
    """``accuracy_2`` = {"A only", "B only", "A + B": test accuracy} with B replaced by class-free noise."""
    require(isinstance(accuracy_2, Mapping) and set(accuracy_2) == set(ROWS),
            f"accuracy_2 should be a dict with the keys {list(ROWS)}. Hint: loop over the three column sets "
            "as section 2 does.")
    useless_b = np.random.default_rng(1).normal(0, 1.0, len(labels))
    reference = _split_scores(np.column_stack([feature_a, useless_b]), labels)
    close(accuracy_2["A only"], reference["A only"], "accuracy_2['A only']", 1e-9,
          "keep feature_a and labels, and split with test_size=0.5, random_state=0 as in section 2.")
    close(accuracy_2["B only"], reference["B only"], "accuracy_2['B only']", 0.01,
          "modality B is np.random.default_rng(1).normal(0, 1.0, n): noise that ignores the class.")
    close(accuracy_2["A + B"], reference["A + B"], "accuracy_2['A + B']", 0.01,
          "fit one model on both columns [0, 1].")
    return (f"B alone {accuracy_2['B only']:.1%} (chance is 50 %), A + B {accuracy_2['A + B']:.1%} "
            f"against A alone {accuracy_2['A only']:.1%}: a useless modality adds nothing.")


@exercise("00", 2)
def exercise_2(digit_counts: np.ndarray, voice_counts: np.ndarray, av_train) -> str:
    """``digit_counts`` (10,) and ``voice_counts`` (len(voice_names),): training pairs per digit and per voice."""
    digits = np.bincount(av_train.labels, minlength=10)
    voices = np.bincount(av_train.voices, minlength=len(av_train.voice_names))
    for name, answer, reference, hint in (
            ("digit_counts", digit_counts, digits, "np.bincount(av_train.labels, minlength=10)"),
            ("voice_counts", voice_counts, voices,
             "np.bincount(av_train.voices, minlength=len(av_train.voice_names)) keeps the voices without pairs")):
        answer = np.asarray(answer)
        require(answer.shape == reference.shape,
                f"{name} has shape {answer.shape}, expected {reference.shape}. Hint: {hint}.")
        require(np.array_equal(answer, reference), f"{name} does not match the dataset's counts. Hint: {hint}.")
    empty = int((voices == 0).sum())
    return (f"{digits.min()} to {digits.max()} pairs per digit; {len(voices) - empty} voices with pairs, "
            f"{empty} without (the test-only voices).")


@exercise("00", 3)
def exercise_3(blind: Mapping[str, float], clevr) -> str:
    """``blind`` = {subtype: share of its questions whose answer is the subtype's most frequent answer}."""
    from course_lib.data.sort_of_clevr import ANSWERS, SUBTYPES

    require(isinstance(blind, Mapping) and set(blind) == set(SUBTYPES),
            f"blind should be a dict with one entry per subtype, {list(SUBTYPES)}.")
    for k, name in enumerate(SUBTYPES):
        counts = np.bincount(clevr.labels[clevr.subtype == k], minlength=len(ANSWERS))
        close(blind[name], counts.max() / counts.sum(), f"blind[{name!r}]", 1e-6,
              "for each subtype, count its answers with np.bincount and divide the largest count by the "
              "number of questions of that subtype.")
    return f"the best blind guess is right for {min(blind.values()):.1%} to {max(blind.values()):.1%} of a subtype."


def _brightest_time(video: torch.Tensor, fps: float) -> float:
    """(T, 1, H, W) -> the time in seconds of the frame whose 99th-percentile pixel is brightest."""
    return video[:, 0].flatten(start_dim=1).quantile(0.99, dim=1).argmax().item() / fps


@exercise("00", 4)
def exercise_4(hits: int, clips: Sequence[dict], fps: float) -> str:
    """``hits``: how many of the first ten clips have their brightest frame within 0.5 s of the onset."""
    reference = sum(abs(_brightest_time(clips[i]["video"], fps) - float(clips[i]["onset"])) < 0.5 for i in range(10))
    require(isinstance(hits, (int, np.integer, bool, torch.Tensor)) and int(hits) == reference,
            f"hits is {hits!r}, but {reference} of the first 10 clips have their brightest frame within 0.5 s of "
            "the onset. Hint: a frame's brightness is the 99th percentile of its pixels "
            "(.flatten(start_dim=1).quantile(0.99, dim=1)), and frame t lies at t / fps seconds.")
    return f"{reference} of 10 peaks within 0.5 s of the onset."
