import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from course_lib.config import seed_everything
from course_lib.metrics import accuracy
from course_lib.train import evaluate, fit, load_checkpoint, predict, split_batch


class TwoModalityBlobs(Dataset):
    """Four classes; each modality alone tells two of them apart, both together all four."""

    def __init__(self, n: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.label = torch.randint(0, 4, (n,), generator=g)
        self.image = torch.randn(n, 6, generator=g) * 0.6
        self.audio = torch.randn(n, 4, generator=g) * 0.6
        self.image[:, 0] += 3.0 * (self.label % 2)
        self.audio[:, 0] += 3.0 * (self.label // 2)

    def __len__(self) -> int:
        return len(self.label)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.image[i], "audio": self.audio[i], "label": self.label[i]}


class ConcatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 4))

    def forward(self, inputs: dict) -> torch.Tensor:
        return self.net(torch.cat([inputs["image"], inputs["audio"]], dim=1))


def loaders(seed: int = 0):
    train = DataLoader(TwoModalityBlobs(800, seed=1), batch_size=64, shuffle=True,
                       generator=torch.Generator().manual_seed(seed))
    val = DataLoader(TwoModalityBlobs(400, seed=2), batch_size=128)
    return train, val


def train_once(tmp_path=None, epochs: int = 8, **kwargs):
    seed_everything(0)
    model = ConcatNet()
    train, val = loaders()
    result = fit(model, train, val_loader=val, loss_fn=nn.functional.cross_entropy,
                 optimizer=torch.optim.Adam(model.parameters(), lr=1e-2), epochs=epochs,
                 device=torch.device("cpu"), progress=False,
                 checkpoint_path=None if tmp_path is None else tmp_path / "best.pt", **kwargs)
    return model, result, val


def test_fit_reaches_known_accuracy_on_a_synthetic_fusion_problem(tmp_path):
    model, result, val = train_once(tmp_path)
    assert result.best_score > 0.95  # Bayes accuracy is about 0.99; one modality alone caps at 0.5
    assert evaluate(model, val, nn.functional.cross_entropy)["score"] == pytest.approx(result.best_score)
    assert result.history["train_loss"][-1] < result.history["train_loss"][0]
    assert set(result.history) == {"train_loss", "train_score", "val_loss", "val_score", "seconds"}
    assert all(len(v) == 8 for v in result.history.values())


def test_fit_is_deterministic_under_a_seed():
    _, first, _ = train_once(epochs=3)
    _, second, _ = train_once(epochs=3)
    assert first.history["val_loss"] == second.history["val_loss"]


def test_best_checkpoint_is_saved_restored_and_loads_with_weights_only(tmp_path):
    model, result, val = train_once(tmp_path)
    fresh = ConcatNet()
    info = load_checkpoint(fresh, tmp_path / "best.pt")
    assert info["epoch"] == result.best_epoch and info["score"] == pytest.approx(result.best_score)
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)
    outputs, targets = predict(fresh, val)
    assert accuracy(outputs, targets) == pytest.approx(result.best_score)


def test_early_stopping_stops_after_patience_epochs():
    _, result, _ = train_once(epochs=40, patience=2)
    ran = len(result.history["val_score"])
    assert ran < 40
    assert ran - result.best_epoch == 2


def test_multitask_targets_are_passed_as_dicts():
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.parity = nn.Linear(6, 2)
            self.high = nn.Linear(4, 2)

        def forward(self, inputs):
            return {"parity": self.parity(inputs["image"]), "half": self.high(inputs["audio"])}

    class MultiTask(TwoModalityBlobs):
        def __getitem__(self, i):
            item = super().__getitem__(i)
            return {**item, "parity": item["label"] % 2, "half": item["label"] // 2}

    def loss_fn(out, tgt):
        return sum(nn.functional.cross_entropy(out[k], tgt[k]) for k in out)

    def score_fn(out, tgt):
        return sum(accuracy(out[k], tgt[k]) for k in out) / len(out)

    seed_everything(0)
    model = TwoHeads()
    train = DataLoader(MultiTask(600, 1), batch_size=64, shuffle=True)
    val = DataLoader(MultiTask(300, 2), batch_size=100)
    result = fit(model, train, val_loader=val, loss_fn=loss_fn, score_fn=score_fn,
                 optimizer=torch.optim.Adam(model.parameters(), lr=2e-2), epochs=5,
                 target_key=("parity", "half"), device=torch.device("cpu"), progress=False)
    assert result.best_score > 0.9


def test_split_batch_and_errors():
    batch = {"image": torch.zeros(2, 3), "label": torch.tensor([0, 1]), "text": ["a", "b"]}
    inputs, targets = split_batch(batch, "label")
    assert set(inputs) == {"image", "text"} and torch.equal(targets, batch["label"])
    with pytest.raises(KeyError, match="digit"):
        split_batch(batch, "digit")
    model = ConcatNet()
    train, val = loaders()
    with pytest.raises(ValueError, match="epochs"):
        fit(model, train, val_loader=val, loss_fn=nn.functional.cross_entropy,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=0, progress=False)


def test_a_diverging_loss_is_reported():
    model = ConcatNet()
    train, val = loaders()
    with pytest.raises(FloatingPointError, match="learning rate"):
        fit(model, train, val_loader=val, loss_fn=lambda out, tgt: out.sum() * float("nan"),
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=1, progress=False,
            device=torch.device("cpu"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fit_runs_unchanged_on_cuda():
    seed_everything(0)
    model = ConcatNet()
    train, val = loaders()
    result = fit(model, train, val_loader=val, loss_fn=nn.functional.cross_entropy,
                 optimizer=torch.optim.Adam(model.parameters(), lr=1e-2), epochs=3,
                 device=torch.device("cuda"), progress=False)
    assert next(model.parameters()).is_cuda and result.best_score > 0.8


def test_fit_logs_its_device_only_when_asked(tmp_path, monkeypatch):
    log = tmp_path / "devices.log"
    monkeypatch.delenv("COURSE_DEVICE_LOG", raising=False)
    train_once(epochs=1)
    assert not log.exists()
    monkeypatch.setenv("COURSE_DEVICE_LOG", str(log))
    train_once(epochs=1)
    train_once(epochs=1)
    assert log.read_text().split() == ["cpu", "cpu"]
