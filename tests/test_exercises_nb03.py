"""Notebook 03's exercise checks: right answers pass, wrong ones and None get "not yet", strict mode raises."""
from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.exercises import nb03
from course_lib.models import LateFusion, LowRankFusion, MultimodalModel, TensorFusion, count_parameters
from course_lib.models.decision_fusion import DecisionFusion

from exercise_checks import strict_fails


class Reader(nn.Module):
    """{modality: (B, 4), ...} -> a linear layer on one modality, (B, 10)."""

    def __init__(self, modality: str, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.modality, self.linear = modality, nn.Linear(4, 10)

    def forward(self, batch):
        return self.linear(batch[self.modality])


class Gated(nn.Module):
    """A stand-in for the gated model: logits (B, 10) and a gate (B, 2) whose image weight follows the image."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.image, self.audio, self.scale = Reader("image", 0), Reader("audio", 1), scale

    def forward(self, batch, return_weights: bool = False):
        image_weight = torch.sigmoid(self.scale * batch["image"].mean(dim=1))
        gate = torch.stack([image_weight, 1 - image_weight], dim=1)
        logits = gate[:, :1] * self.image(batch) + gate[:, 1:] * self.audio(batch)
        return (logits, gate) if return_weights else logits


def _batch(n: int = 32) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {"image": torch.rand(n, 4, generator=generator), "audio": torch.randn(n, 4, generator=generator),
            "label": torch.randint(0, 10, (n,), generator=generator)}


def test_exercise_1(capsys, monkeypatch):
    dims = {"image": 4, "audio": 4}
    encoders = {m: nn.Identity() for m in dims}
    learned = MultimodalModel(encoders, LateFusion(dims, num_classes=10, learn_weights=True), nn.Identity())
    assert not nb03.exercise_1(learned)  # untrained: still 1/2 each
    assert "still 1/2" in capsys.readouterr().out
    with torch.no_grad():
        learned.fusion.log_weights.copy_(torch.tensor([0.1, -0.1]))
    assert nb03.exercise_1(learned)
    fixed = MultimodalModel(encoders, LateFusion(dims, num_classes=10), nn.Identity())
    assert not nb03.exercise_1(fixed)
    assert "learn_weights=True" in capsys.readouterr().out
    assert not nb03.exercise_1(None)
    strict_fails(monkeypatch, nb03.exercise_1, fixed)


def right_mse(logits, targets):
    return F.mse_loss(torch.softmax(logits, dim=1), F.one_hot(targets, 10).float(), reduction="sum") / len(targets)


def test_exercise_2(capsys, monkeypatch):
    ce = {"val_score": [0.3, 0.6], "train_loss": [2.0, 1.0]}
    mse = {"val_score": [0.3, 0.62], "train_loss": [0.9, 0.5]}
    assert nb03.exercise_2(right_mse, mse, ce)

    def mean_over_classes(logits, targets):  # F.mse_loss's default: 10 times too small
        return F.mse_loss(torch.softmax(logits, dim=1), F.one_hot(targets, 10).float())

    assert not nb03.exercise_2(mean_over_classes, mse, ce)
    assert "reduction='sum'" in capsys.readouterr().out
    assert not nb03.exercise_2(right_mse, ce, ce)
    assert "loss_fn=mse_on_one_hot" in capsys.readouterr().out
    assert not nb03.exercise_2(right_mse, {"val_score": [0.3], "train_loss": [0.9]}, ce)
    assert not nb03.exercise_2(right_mse, None, ce)
    strict_fails(monkeypatch, nb03.exercise_2, mean_over_classes, mse, ce)


def test_exercise_3(capsys, monkeypatch):
    right = {n: (count_parameters(TensorFusion({f"m{i}": 32 for i in range(n)}, out_dim=64)),
                 count_parameters(LowRankFusion({f"m{i}": 32 for i in range(n)}, out_dim=64, rank=4)))
             for n in (2, 3)}
    assert right[2] == (33**2 * 64 + 64, 4 * 66 * 64 + 4 + 64)
    assert nb03.exercise_3(right)
    no_bias = {n: (tfn - 64, lmf) for n, (tfn, lmf) in right.items()}
    assert not nb03.exercise_3(no_bias)
    assert "constant 1" in capsys.readouterr().out
    assert not nb03.exercise_3({2: right[2]})
    assert not nb03.exercise_3(None)
    strict_fails(monkeypatch, nb03.exercise_3, no_bias)


def test_exercise_4(capsys, monkeypatch):
    batch = _batch()
    models = {"image": Reader("image", 0), "audio": Reader("audio", 1)}
    product = DecisionFusion(models, rule="product").eval()
    assert nb03.exercise_4(product, 4e-7, batch)
    assert not nb03.exercise_4(DecisionFusion(models).eval(), 4e-7, batch)
    assert 'rule="product"' in capsys.readouterr().out
    assert not nb03.exercise_4(DecisionFusion(models, weights={"image": 3, "audio": 1}, rule="product"), 4e-7, batch)
    assert not nb03.exercise_4(product, 0.3, batch)
    assert "normalised" in capsys.readouterr().out
    assert not nb03.exercise_4(product, None, batch)
    strict_fails(monkeypatch, nb03.exercise_4, product, 0.3, batch)


def _noise_answers(model, test):
    weights, accuracy = [], []
    generator = torch.Generator().manual_seed(2)
    for std in (0, 0.2, 0.4, 0.8, 1.6):
        images = (test["image"] + std * torch.randn(test["image"].shape, generator=generator)).clamp(0, 1)
        with torch.no_grad():
            logits, gate = model.eval()({"image": images, "audio": test["audio"]}, return_weights=True)
        weights.append(gate[:, 0].mean().item())
        accuracy.append((logits.argmax(1) == test["label"]).float().mean().item())
    return weights, accuracy


def test_exercise_5(capsys, monkeypatch):
    model, test = Gated(3.0), _batch()
    weights, accuracy = _noise_answers(model, test)
    assert nb03.exercise_5(weights, accuracy, model, test)
    assert not nb03.exercise_5([weights[0]] * 5, accuracy, model, test)
    assert "add std" in capsys.readouterr().out
    assert not nb03.exercise_5([w + 0.1 for w in weights], accuracy, model, test)
    assert "std 0" in capsys.readouterr().out
    assert not nb03.exercise_5(weights[:3], accuracy, model, test)
    assert not nb03.exercise_5(weights, None, model, test)
    strict_fails(monkeypatch, nb03.exercise_5, [weights[0]] * 5, accuracy, model, test)


def test_exercise_6(capsys, monkeypatch):
    batch = _batch()
    slow = SimpleNamespace(model=Gated(1.0), row={"accuracy": 0.82})
    fast = SimpleNamespace(model=Gated(8.0), row={"accuracy": 0.76})
    assert nb03.exercise_6(fast, slow, batch)
    assert not nb03.exercise_6(SimpleNamespace(model=Gated(1.0), row={"accuracy": 0.82}), slow, batch)
    assert "gate_lr_scale=1.0" in capsys.readouterr().out
    assert not nb03.exercise_6(fast.model, slow, batch)
    assert not nb03.exercise_6(None, slow, batch)
    strict_fails(monkeypatch, nb03.exercise_6, slow, slow, batch)
