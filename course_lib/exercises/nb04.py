"""Checks of notebook 04's exercises (image features: CNN, LBP and SIFT under one linear probe).

The checks refit the notebook's linear probe (standardization, then logistic regression, its C chosen by
stratified k-fold cross-validation on the training rows) where the answer is a probe's score, and rerun
a trained network where the answer is its accuracy.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from course_lib import config
from course_lib.exercises.core import close, exercise, require
from course_lib.features.image import BagOfVisualWords, lbp_histogram

C_GRID = (0.01, 0.1, 1, 10)   # the notebook's C_GRID


def probe_score(features: np.ndarray, labels: np.ndarray, train: np.ndarray, test: np.ndarray,
                C: float | None = None) -> float:
    """Test accuracy of the notebook's probe fitted on ``features[train]``; features (N, D), labels (N,).

    With ``C=None``, C is chosen from C_GRID by stratified k-fold cross-validation on the training rows
    (the notebook's PROBE_FOLDS: 3 folds in fast mode, 5 in full mode), as ``make_probe()`` does;
    otherwise the probe uses that fixed C.
    """
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1 if C is None else C, max_iter=3000))
    if C is None:
        folds = StratifiedKFold(n_splits=config.fast_or_full(fast=3, full=5), shuffle=True, random_state=0)
        probe = GridSearchCV(probe, {"logisticregression__C": C_GRID}, cv=folds)
    return probe.fit(features[train], labels[train]).score(features[test], labels[test])


def _model_accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of an image classifier on uint8 images (N, H, W) scaled to [0, 1]."""
    device = next(model.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div(255).unsqueeze(1)
    with torch.no_grad():
        logits = torch.cat([model.eval()({"image": x[i:i + 256].to(device)}).cpu() for i in range(0, len(x), 256)])
    return float((logits.argmax(1).numpy() == labels).mean())


@exercise("04", 1)
def exercise_1(fixed: Mapping[str, float], probes: Mapping[str, tuple[Callable, object]],
               digits: np.ndarray, labels: np.ndarray, train_idx: np.ndarray, test_idx: np.ndarray) -> str:
    """``fixed``: {feature name: test accuracy of the probe with the fixed C=0.1, fitted on the training digits}."""
    require(isinstance(fixed, Mapping) and len(fixed) >= 3,
            "fixed should be a dict {feature name: test accuracy with C=0.1} for at least three features.")
    for name, score in fixed.items():
        require(name in probes, f"{name!r} is not a feature of the results table. Hint: use the names of `probes`.")
        features = probes[name][0](digits)
        close(score, probe_score(features, labels, train_idx, test_idx, C=0.1),
              f"the test accuracy of {name!r} with C=0.1", 1e-6,
              "fit make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000)) on the training "
              "digits only and score it on the test digits.")
    return None


@exercise("04", 2)
def exercise_2(multiscale_features: np.ndarray, multiscale_accuracy: float, digits: np.ndarray, labels: np.ndarray,
               train_idx: np.ndarray, test_idx: np.ndarray) -> str:
    """``multiscale_features`` (N, 2 * 944): the 4x4-grid nri_uniform histograms of R = 1, then R = 2."""
    expected = np.stack([np.concatenate([lbp_histogram(image, P=8, R=r, method="nri_uniform", grid=4) for r in (1, 2)])
                         for image in digits])
    features = np.asarray(multiscale_features)
    require(features.shape == expected.shape,
            f"multiscale_features should have the shape {expected.shape} (one row per digit, the R = 1 histograms "
            f"then the R = 2 ones), got {features.shape}.")
    require(np.allclose(features, expected), "multiscale_features differ from the 4x4-grid nri_uniform histograms of "
                                             "(P, R) = (8, 1) and (8, 2). Hint: lbp_histogram(image, P=8, R=r, "
                                             "method='nri_uniform', grid=4) for r in (1, 2), concatenated.")
    score = probe_score(expected, labels, train_idx, test_idx)
    close(multiscale_accuracy, score, "multiscale_accuracy", 1e-6,
          "fit make_probe() on the training digits' features and score it on the test digits.")
    return f"two radii: test accuracy {score:.3f}."


@exercise("04", 3)
def exercise_3(turned_accuracy: Mapping[str, float], turned_cnn: nn.Module, test_digits: np.ndarray,
               test_labels: np.ndarray) -> str:
    """``turned_accuracy``: {"unchanged": ..., "turned 90°": ...} test accuracies of the CNN trained on turned digits."""
    require(isinstance(turned_accuracy, Mapping) and {"unchanged", "turned 90°"} <= set(turned_accuracy),
            "turned_accuracy should be a dict with the keys 'unchanged' and 'turned 90°'.")
    turned = np.rot90(test_digits, k=1, axes=(1, 2))
    expected = {"unchanged": _model_accuracy(turned_cnn, test_digits, test_labels),
                "turned 90°": _model_accuracy(turned_cnn, turned, test_labels)}
    for name, value in expected.items():
        close(turned_accuracy[name], value, f"the accuracy of turned_cnn on the {name} test digits", 1e-6,
              "score the network on the test digits, turned with changes['turned 90°'] for the second number.")
    gap = abs(expected["unchanged"] - expected["turned 90°"])
    require(gap < 0.15, f"turned_cnn scores {expected['unchanged']:.3f} upright and {expected['turned 90°']:.3f} "
                        "turned: it has not learned the turn. Hint: turn every training batch by a random multiple "
                        "of 90° (torch.rot90 over the dimensions (2, 3)).")
    return None


@exercise("04", 4)
def exercise_4(counter_accuracy: float, counter: nn.Module, test_scenes: np.ndarray, test_counts: np.ndarray) -> str:
    """``counter_accuracy``: test accuracy of ``counter`` on the grey test scenes (N, 75, 75) counting circles."""
    device = next(counter.parameters()).device
    with torch.no_grad():
        outputs = counter.eval()({"image": torch.zeros(1, 1, 75, 75, device=device)})
    require(outputs.shape[-1] == 7, f"counter should answer 7 classes (0 to 6 circles), it has {outputs.shape[-1]}. "
                                    "Hint: num_classes=7.")
    expected = _model_accuracy(counter, test_scenes, test_counts)
    close(counter_accuracy, expected, "counter_accuracy", 1e-6,
          "the accuracy on the test scenes (the rows of gray_scenes after the n_train training ones).")
    return None


@exercise("04", 5)
def exercise_5(word_accuracy: Mapping[int, float], descriptor_sets: list[np.ndarray], labels: np.ndarray,
               train_idx: np.ndarray, test_idx: np.ndarray) -> str:
    """``word_accuracy``: {number of visual words: test accuracy of the probe} for 16, 64, 128 and 256 words."""
    require(isinstance(word_accuracy, Mapping) and {16, 64, 128, 256} <= set(word_accuracy),
            "word_accuracy should be a dict {number of words: test accuracy} for 16, 64, 128 and 256 words.")
    for size, value in word_accuracy.items():
        require(0 <= float(value) <= 1, f"the accuracy for {size} words is {value}, not between 0 and 1.")
    words = BagOfVisualWords(n_words=16, seed=0).fit([descriptor_sets[i] for i in train_idx])
    expected = probe_score(words.transform(descriptor_sets), labels, train_idx, test_idx)
    close(word_accuracy[16], expected, "the accuracy with 16 words", 1e-6,
          "learn the words from the training digits' descriptors (BagOfVisualWords(n_words=16, seed=0)), "
          "transform every digit, fit make_probe() on the training rows.")
    return None
