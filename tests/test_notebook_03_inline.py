"""The pieces a notebook builds inline agree with the library versions it switches to.

A notebook tags the code cells that define its inline versions with the cell tag
``inline``. Those cells must run on their own (no data, no earlier cells): this test
executes them, copies the inline module's weights into the ``course_lib`` module and
checks that both give the same outputs; inline losses and optimizers are checked
against ``torch.nn.functional`` and ``torch.optim``, and the training loop written by hand
against ``course_lib.train.fit``.
"""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.data.tensors import tensor_loader
from course_lib.models import ConcatFusion, GatedFusion, LateFusion, LowRankFusion, TensorFusion
from course_lib.train import fit

from notebook_cells import inline_fixture

DIMS = {"image": 6, "audio": 5}
OUT_DIM = 7
NUM_CLASSES = 4
BATCH = 8


inline = inline_fixture("03_fusion_architectures.ipynb")


def random_features(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {m: torch.randn(BATCH, d, generator=generator) for m, d in DIMS.items()}


#: inline class name -> (its keyword arguments, the library module, library state keys it lacks).
FUSIONS = {
    "SimpleConcatFusion": ({"out_dim": OUT_DIM}, lambda: ConcatFusion(DIMS, out_dim=OUT_DIM), set()),
    "SimpleLateFusion": ({"num_classes": NUM_CLASSES}, lambda: LateFusion(DIMS, num_classes=NUM_CLASSES),
                         {"log_weights"}),
    "SimpleGatedFusion": ({"out_dim": OUT_DIM, "hidden": 16},
                          lambda: GatedFusion(DIMS, out_dim=OUT_DIM, hidden=16), set()),
    "SimpleTensorFusion": ({"out_dim": OUT_DIM}, lambda: TensorFusion(DIMS, out_dim=OUT_DIM), set()),
    "SimpleLowRankFusion": ({"out_dim": OUT_DIM, "rank": 3},
                            lambda: LowRankFusion(DIMS, out_dim=OUT_DIM, rank=3), set()),
}


@pytest.mark.parametrize("name", list(FUSIONS))
def test_inline_fusion_matches_library(inline, name):
    kwargs, make_library, library_only = FUSIONS[name]
    assert name in inline, f"the inline cells define no {name}"
    torch.manual_seed(1)
    mine = inline[name](DIMS, **kwargs)
    torch.manual_seed(2)
    library = make_library()
    features = random_features()
    assert not torch.allclose(mine(features), library(features)), "different weights should give different outputs"

    missing, unexpected = library.load_state_dict(mine.state_dict(), strict=False)
    assert set(missing) == library_only and not unexpected, (missing, unexpected)
    torch.testing.assert_close(mine(features), library(features))
    reordered = dict(reversed(list(features.items())))
    torch.testing.assert_close(library(reordered), library(features))


def test_inline_gate_weights_match_library(inline):
    torch.manual_seed(0)
    mine = inline["SimpleGatedFusion"](DIMS, out_dim=OUT_DIM, hidden=16)
    library = GatedFusion(DIMS, out_dim=OUT_DIM, hidden=16)
    library.load_state_dict(mine.state_dict())
    features = random_features(3)
    _, expected = library(features, return_weights=True)
    weights = mine.gate_weights(features)
    assert weights.shape == (BATCH, len(DIMS))
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(BATCH))
    torch.testing.assert_close(weights, expected)


def test_inline_losses_match_torch(inline):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 10, generator=generator) * 5
    targets = torch.randint(0, 10, (16,), generator=generator)
    torch.testing.assert_close(inline["cross_entropy"](logits, targets), F.cross_entropy(logits, targets))
    predictions, values = torch.randn(16, generator=generator), torch.randn(16, generator=generator)
    torch.testing.assert_close(inline["mean_squared_error"](predictions, values), F.mse_loss(predictions, values))


def tiny_regression(seed: int = 0) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1))
    return model, torch.randn(32, 5, generator=generator), torch.randn(32, 1, generator=generator)


@pytest.mark.parametrize(
    ("name", "kwargs", "reference"),
    [
        ("SimpleSGD", {"lr": 0.1, "momentum": 0.9}, lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
        ("SimpleSGD", {"lr": 0.1, "momentum": 0.0}, lambda p: torch.optim.SGD(p, lr=0.1)),
        ("SimpleAdam", {"lr": 0.01}, lambda p: torch.optim.Adam(p, lr=0.01)),
    ],
)
def test_inline_optimizer_matches_torch(inline, name, kwargs, reference):
    model, x, y = tiny_regression()
    twin = copy.deepcopy(model)
    mine, theirs = inline[name](model.parameters(), **kwargs), reference(twin.parameters())
    start = [p.detach().clone() for p in model.parameters()]
    for _ in range(5):
        for net, optimizer in ((model, mine), (twin, theirs)):
            optimizer.zero_grad()
            F.mse_loss(net(x), y).backward()
            optimizer.step()
    for p, q, p0 in zip(model.parameters(), twin.parameters(), start):
        assert not torch.equal(p, p0), "the optimizer did not change the parameters"
        torch.testing.assert_close(p, q)


class TinyClassifier(nn.Module):
    """A small model with batch norm (train and eval modes differ) over a dict batch {"x": (B, 6)}."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.net(batch["x"])


def tiny_classification(seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    splits = {}
    for split, n in (("train", 96), ("val", 40)):
        x = torch.randn(n, 6, generator=generator)
        splits[split] = {"x": x, "label": (x[:, 0] + 0.5 * torch.randn(n, generator=generator) > 0).long()
                         + (x[:, 1] > 1).long()}
    return splits


def train_once(seed: int = 0, epochs: int = 6):
    """A fresh TinyClassifier with its data, optimizer, schedule and loaders: the same for every call with one seed."""
    data = tiny_classification()
    torch.manual_seed(seed)
    model = TinyClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    train_loader = tensor_loader(data["train"], batch_size=16, shuffle=True, seed=seed)
    val_loader = tensor_loader(data["val"], batch_size=32)
    return model, data, optimizer, scheduler, train_loader, val_loader


def test_training_loop_by_hand_matches_fit(inline):
    assert "train_by_hand" in inline, "the inline cells define no train_by_hand"
    model, _, optimizer, scheduler, train_loader, val_loader = train_once()
    history, best_epoch = inline["train_by_hand"](model, train_loader, val_loader, F.cross_entropy, optimizer, 6,
                                                   scheduler=scheduler, device="cpu")
    twin, _, optimizer2, scheduler2, train_loader2, val_loader2 = train_once()
    result = fit(twin, train_loader2, val_loader=val_loader2, loss_fn=F.cross_entropy, optimizer=optimizer2,
                 scheduler=scheduler2, epochs=6, device=torch.device("cpu"), progress=False)
    assert len(set(history["val_accuracy"])) > 1, "the test data should make validation accuracy change"
    assert history["val_accuracy"] == result.history["val_score"]
    torch.testing.assert_close(torch.tensor(history["train_loss"]), torch.tensor(result.history["train_loss"]))
    torch.testing.assert_close(torch.tensor(history["val_loss"]), torch.tensor(result.history["val_loss"]))
    assert best_epoch == result.best_epoch
    for (name, mine), theirs in zip(model.state_dict().items(), twin.state_dict().values()):
        torch.testing.assert_close(mine, theirs, msg=f"{name} differs after training")


def test_training_loop_by_hand_keeps_the_best_validation_weights(inline):
    model, data, optimizer, scheduler, train_loader, val_loader = train_once(epochs=6)
    history, best_epoch = inline["train_by_hand"](model, train_loader, val_loader, F.cross_entropy, optimizer, 6,
                                                   scheduler=scheduler)
    assert best_epoch == 1 + history["val_accuracy"].index(max(history["val_accuracy"]))
    model.eval()
    with torch.no_grad():
        accuracy = (model({"x": data["val"]["x"]}).argmax(1) == data["val"]["label"]).float().mean().item()
    assert accuracy == max(history["val_accuracy"]), "the model must hold the weights of the best validation epoch"
