"""The training loop: known accuracy, determinism, checkpoints, early stopping, schedulers, bad scores."""
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import course_lib.train
from course_lib.config import seed_everything
from course_lib.metrics import accuracy
from course_lib.train import evaluate, fit, load_checkpoint, predict, save_checkpoint, split_batch


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


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fit_runs_unchanged_on_cuda_with_a_weighted_loss_on_the_gpu(tmp_path):
    weight = torch.tensor([1.0, 2.0, 1.0, 0.5], device="cuda")  # class weights live on the GPU

    def loss_fn(outputs, targets):
        return nn.functional.cross_entropy(outputs, targets, weight=weight)

    seed_everything(0)
    model = ConcatNet()
    train, val = loaders()
    result = fit(model, train, val_loader=val, loss_fn=loss_fn, optimizer=torch.optim.Adam(model.parameters(), lr=1e-2),
                 epochs=3, device=torch.device("cuda"), progress=False, checkpoint_path=tmp_path / "best.pt")
    assert next(model.parameters()).is_cuda and result.best_score > 0.8
    outputs, targets = predict(model, val)
    assert outputs.device.type == "cpu"
    expected = nn.functional.cross_entropy(outputs, targets, weight=weight.cpu()).item()
    assert evaluate(model, val, loss_fn)["loss"] == pytest.approx(expected, rel=1e-4)
    assert load_checkpoint(ConcatNet(), tmp_path / "best.pt")["epoch"] == result.best_epoch


def test_fit_logs_its_device_only_when_asked(tmp_path, monkeypatch):
    def no_file(*args, **kwargs):
        raise AssertionError(f"fit opened {args[0]!r} with COURSE_DEVICE_LOG unset")

    monkeypatch.setattr(course_lib.train, "open", no_file, raising=False)  # shadows the builtin in train.py
    for unset in (None, ""):
        if unset is None:
            monkeypatch.delenv("COURSE_DEVICE_LOG", raising=False)
        else:
            monkeypatch.setenv("COURSE_DEVICE_LOG", unset)
        train_once(epochs=1)
    monkeypatch.undo()
    log = tmp_path / "devices.log"
    monkeypatch.setenv("COURSE_DEVICE_LOG", str(log))
    train_once(epochs=1)
    train_once(epochs=1)
    assert log.read_text().split() == ["cpu", "cpu"]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_validation_score_is_an_error_not_the_initial_weights(bad):
    with pytest.raises(ValueError, match=rf"epoch 1: the validation score is {bad}; score_fn must return a finite"):
        train_once(epochs=2, score_fn=lambda outputs, targets: bad)


def test_checkpoints_are_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "best.pt"
    model = ConcatNet()
    save_checkpoint(model, path, epoch=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]  # no temporary file left behind
    real_save = torch.save

    def interrupted_save(obj, f):
        real_save(obj, f)
        with open(f, "r+b") as file:
            file.truncate(10)  # a half-written file
        raise KeyboardInterrupt

    monkeypatch.setattr(course_lib.train.torch, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(ConcatNet(), path, epoch=2)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]
    fresh = ConcatNet()
    assert load_checkpoint(fresh, path) == {"epoch": 1}  # the previous checkpoint, whole
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values()))


def test_a_per_step_scheduler_steps_after_every_batch():
    def factor(step: int) -> float:
        return 1 / (1 + step)

    seed_everything(0)
    model = ConcatNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    lrs = record_lr(optimizer)
    train, val = loaders()
    steps_per_epoch = len(train)  # 800 / 64 -> 13 batches
    fit(model, train, val_loader=val, loss_fn=nn.functional.cross_entropy, optimizer=optimizer, epochs=2,
        device=torch.device("cpu"), progress=False, scheduler=scheduler, scheduler_interval="step")
    assert scheduler.last_epoch == 2 * steps_per_epoch
    assert lrs == pytest.approx([0.1 * factor(step) for step in range(2 * steps_per_epoch)])


def record_lr(optimizer: torch.optim.Optimizer) -> list[float]:
    """A list that receives the learning rate of every optimizer step."""
    lrs = []
    optimizer.register_step_pre_hook(lambda opt, args, kwargs: lrs.append(opt.param_groups[0]["lr"]))
    return lrs


def test_a_per_epoch_scheduler_steps_once_per_epoch_by_default():
    seed_everything(0)
    model = ConcatNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    lrs = record_lr(optimizer)
    train, val = loaders()
    fit(model, train, val_loader=val, loss_fn=nn.functional.cross_entropy, optimizer=optimizer, epochs=3,
        device=torch.device("cpu"), progress=False, scheduler=scheduler)
    steps = len(train)
    assert lrs == pytest.approx([0.1] * steps + [0.05] * steps + [0.025] * steps)


class RecordingPlateau(torch.optim.lr_scheduler.ReduceLROnPlateau):
    """ReduceLROnPlateau that remembers the metric of every step."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.metrics = []

    def step(self, metrics, epoch=None):
        self.metrics.append(metrics)
        super().step(metrics)


def test_reduce_lr_on_plateau_steps_with_the_validation_score():
    seed_everything(0)
    model = ConcatNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = RecordingPlateau(optimizer, mode="max", factor=0.5, patience=0)
    train, val = loaders()
    result = fit(model, train, val_loader=val, loss_fn=nn.functional.cross_entropy, optimizer=optimizer, epochs=3,
                 device=torch.device("cpu"), progress=False, scheduler=scheduler,
                 score_fn=lambda outputs, targets: 0.5)  # a plateau from the first epoch
    assert scheduler.metrics == result.history["val_score"] == [0.5, 0.5, 0.5]
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 ** 2)


@pytest.mark.parametrize(("make_scheduler", "interval", "message"), [
    (lambda opt: torch.optim.lr_scheduler.ReduceLROnPlateau(opt), "epoch", "mode='max'.*got mode='min'"),
    (lambda opt: torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max"), "step",
     "got .*scheduler_interval='step'"),
    (lambda opt: torch.optim.lr_scheduler.StepLR(opt, 1), "batch",
     r"scheduler_interval must be one of \('epoch', 'step'\), got 'batch'"),
])
def test_bad_scheduler_settings_are_clear_errors(make_scheduler, interval, message):
    model = ConcatNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    train, val = loaders()
    with pytest.raises(ValueError, match=message):
        fit(model, train, val_loader=val, loss_fn=nn.functional.cross_entropy, optimizer=optimizer, epochs=1,
            progress=False, scheduler=make_scheduler(optimizer), scheduler_interval=interval)


def test_evaluate_computes_the_loss_over_the_whole_loader():
    # a class-weighted mean is normalised by the weights of all samples, not averaged over batches
    seed_everything(0)
    model = ConcatNet()
    _, val = loaders()
    weight = torch.tensor([1.0, 5.0, 0.2, 2.0])

    def loss_fn(outputs, targets):
        return nn.functional.cross_entropy(outputs, targets, weight=weight)

    outputs, targets = predict(model, val)
    assert evaluate(model, val, loss_fn)["loss"] == pytest.approx(loss_fn(outputs, targets).item(), rel=1e-6)


@pytest.mark.parametrize("module", ["course_lib.train", "course_lib.calibration", "course_lib.metrics",
                                    "course_lib.config"])
def test_importing_the_training_helpers_does_not_load_torchvision_or_torchaudio(module):
    code = (f"import sys, {module}\n"
            "heavy = sorted(m for m in ('torchvision', 'torchaudio') if m in sys.modules)\n"
            "print(','.join(heavy))")
    heavy = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert heavy == "", f"import {module} loaded {heavy}"
