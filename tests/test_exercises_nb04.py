"""Notebook 04's exercise checks: right answers pass, wrong ones and None get "not yet", strict mode raises."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from course_lib.exercises import nb04
from course_lib.features.image import BagOfVisualWords, lbp_histogram

from exercise_checks import strict_fails


def _digits(n: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """n random 28x28 uint8 images, two classes (bright top half or bright bottom half), a train/test split."""
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 2
    images = rng.integers(0, 60, (n, 28, 28))
    images[labels == 1, :14] += 150
    images[labels == 0, 14:] += 150
    return images.astype(np.uint8), labels, np.arange(n // 2), np.arange(n // 2, n)


def _pixels(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1) / 255.0


def test_exercise_1(capsys, monkeypatch):
    digits, labels, train, test = _digits()
    probes = {name: (_pixels, None) for name in ("raw pixels", "copy a", "copy b")}
    right = {name: nb04.probe_score(_pixels(digits), labels, train, test, C=0.1) for name in probes}
    assert nb04.exercise_1(right, probes, digits, labels, train, test)
    wrong = {**right, "raw pixels": right["raw pixels"] - 0.1}
    assert not nb04.exercise_1(wrong, probes, digits, labels, train, test)
    assert "test accuracy of 'raw pixels' with C=0.1" in capsys.readouterr().out
    assert not nb04.exercise_1({**right, "not a feature": 0.5}, probes, digits, labels, train, test)
    assert "not a feature of the results table" in capsys.readouterr().out
    assert not nb04.exercise_1(None, probes, digits, labels, train, test)
    strict_fails(monkeypatch, nb04.exercise_1, wrong, probes, digits, labels, train, test)


def test_exercise_2(capsys, monkeypatch):
    digits, labels, train, test = _digits(20)
    right = np.stack([np.concatenate([lbp_histogram(d, P=8, R=r, method="nri_uniform", grid=4) for r in (1, 2)])
                      for d in digits])
    accuracy = nb04.probe_score(right, labels, train, test)
    assert nb04.exercise_2(right, accuracy, digits, labels, train, test)
    assert not nb04.exercise_2(right[:, :944], accuracy, digits, labels, train, test)  # one radius only
    assert "shape" in capsys.readouterr().out
    swapped = np.concatenate([right[:, 944:], right[:, :944]], axis=1)
    assert not nb04.exercise_2(swapped, accuracy, digits, labels, train, test)
    assert not nb04.exercise_2(right, accuracy + 0.05, digits, labels, train, test)
    assert not nb04.exercise_2(right, None, digits, labels, train, test)
    strict_fails(monkeypatch, nb04.exercise_2, swapped, accuracy, digits, labels, train, test)


class HalfReader(nn.Module):
    """Logits (B, 2) from the mean brightness of the bottom and top halves, or of the whole image (turn-invariant)."""

    def __init__(self, invariant: bool) -> None:
        super().__init__()
        self.invariant, self.scale = invariant, nn.Parameter(torch.ones(()))

    def forward(self, batch):
        image = batch["image"][:, 0]
        if self.invariant:
            brightness = image.mean(dim=(1, 2))
            return self.scale * torch.stack([brightness, 1 - brightness], dim=1)
        half = image.shape[1] // 2
        return self.scale * torch.stack([image[:, half:].mean(dim=(1, 2)), image[:, :half].mean(dim=(1, 2))], dim=1)


def _accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div(255).unsqueeze(1)
    return float((model({"image": x}).argmax(1).numpy() == labels).mean())


def test_exercise_3(capsys, monkeypatch):
    digits, labels, _, _ = _digits(20)
    invariant = HalfReader(invariant=True)
    right = {"unchanged": _accuracy(invariant, digits, labels),
             "turned 90°": _accuracy(invariant, np.rot90(digits, 1, axes=(1, 2)), labels)}
    assert nb04.exercise_3(right, invariant, digits, labels)
    assert not nb04.exercise_3({**right, "unchanged": right["unchanged"] + 0.1}, invariant, digits, labels)
    upright = HalfReader(invariant=False)  # reads the top half: 1.0 upright, 0.5 turned
    upright_scores = {"unchanged": _accuracy(upright, digits, labels),
                      "turned 90°": _accuracy(upright, np.rot90(digits, 1, axes=(1, 2)), labels)}
    assert upright_scores["unchanged"] == 1.0
    assert not nb04.exercise_3(upright_scores, upright, digits, labels)
    assert "has not learned the turn" in capsys.readouterr().out
    assert not nb04.exercise_3(None, invariant, digits, labels)
    strict_fails(monkeypatch, nb04.exercise_3, upright_scores, upright, digits, labels)


class Counter(nn.Module):
    """(B, 1, H, W) -> (B, classes) logits from the mean brightness."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(1, classes)

    def forward(self, batch):
        return self.linear(batch["image"].mean(dim=(1, 2, 3))[:, None])


def test_exercise_4(capsys, monkeypatch):
    rng = np.random.default_rng(0)
    scenes, counts = rng.integers(0, 256, (12, 75, 75)).astype(np.uint8), rng.integers(0, 7, 12)
    counter = Counter(7)
    right = _accuracy(counter, scenes, counts)
    assert nb04.exercise_4(right, counter, scenes, counts)
    assert not nb04.exercise_4(right + 0.25, counter, scenes, counts)
    assert not nb04.exercise_4(right, Counter(10), scenes, counts)
    assert "7 classes" in capsys.readouterr().out
    assert not nb04.exercise_4(None, counter, scenes, counts)
    strict_fails(monkeypatch, nb04.exercise_4, right + 0.25, counter, scenes, counts)


def test_exercise_5(capsys, monkeypatch):
    rng = np.random.default_rng(0)
    labels = np.arange(30) % 2
    descriptor_sets = [rng.normal(label, 1.0, (int(rng.integers(5, 12)), 128)).astype(np.float32) for label in labels]
    train, test = np.arange(20), np.arange(20, 30)
    words = BagOfVisualWords(n_words=16, seed=0).fit([descriptor_sets[i] for i in train])
    right = {16: nb04.probe_score(words.transform(descriptor_sets), labels, train, test), 64: 0.5, 128: 0.6, 256: 0.7}
    assert nb04.exercise_5(right, descriptor_sets, labels, train, test)
    assert not nb04.exercise_5({**right, 16: right[16] - 0.2}, descriptor_sets, labels, train, test)
    assert "16 words" in capsys.readouterr().out
    assert not nb04.exercise_5({16: right[16], 64: 0.5}, descriptor_sets, labels, train, test)
    assert not nb04.exercise_5({**right, 64: 1.5}, descriptor_sets, labels, train, test)
    assert not nb04.exercise_5(None, descriptor_sets, labels, train, test)
    strict_fails(monkeypatch, nb04.exercise_5, {**right, 64: 1.5}, descriptor_sets, labels, train, test)
