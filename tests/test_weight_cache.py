"""The cache of trained weights: train once, then load; atomic writes; settings checked on load."""
import pytest
import torch
from torch import nn

from course_lib import config
from course_lib.data import sort_of_clevr as soc
from course_lib.experiments import common
from course_lib.experiments import sort_of_clevr_vqa as vqa
from course_lib.train import FitResult

SETTINGS = {"method": "tiny", "seed": 0, "epochs": 2, "lr": 1e-3}


@pytest.fixture
def artifacts(tmp_path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COURSE_ARTIFACTS_DIR", str(tmp_path))
    assert config.artifacts_dir() == tmp_path
    return tmp_path


class FakeTrainer:
    """``train(model)``: counts its calls and moves the weights to a value that depends on the call."""

    def __init__(self, fail: bool = False) -> None:
        self.calls, self.fail = 0, fail

    def __call__(self, model: nn.Module) -> tuple[FitResult, dict]:
        self.calls += 1
        if self.fail:
            raise RuntimeError("training failed")
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(float(self.calls))
        result = FitResult(history={"train_loss": [1.0, 0.5], "val_score": [0.4, 0.6 + self.calls]}, best_epoch=1,
                           best_score=0.6 + self.calls, seconds=2.5)
        return result, {"method": "tiny", "accuracy": 0.6 + self.calls, "calls": self.calls}


def build() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def cached(train, settings=SETTINGS, retrain=False) -> common.MethodResult:
    return common.cached_method("tiny_weights", settings, build, train, device="cpu", retrain=retrain)


def files(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def assert_same_weights(first: nn.Module, second: nn.Module) -> None:
    assert first.state_dict().keys() == second.state_dict().keys()
    for key, value in first.state_dict().items():
        torch.testing.assert_close(value, second.state_dict()[key], rtol=0, atol=0)


def test_first_call_trains_and_writes_one_file_the_second_loads_it(artifacts):
    train = FakeTrainer()
    first = cached(train)
    assert train.calls == 1
    names = files(artifacts)
    assert len(names) == 1 and names[0].startswith("tiny-") and names[0].endswith(".pt")
    assert (artifacts / "tiny_weights" / names[0]).is_file()
    fresh = build()
    assert not torch.equal(first.model[0].weight, fresh[0].weight)  # trained, not the untrained model

    second = cached(train)
    assert train.calls == 1  # loaded, not trained
    assert_same_weights(first.model, second.model)
    assert second.row == first.row == {"method": "tiny", "accuracy": 1.6, "calls": 1}
    assert second.fit.history == first.fit.history
    assert (second.fit.best_epoch, second.fit.best_score, second.fit.seconds) == (1, 1.6, 2.5)
    assert files(artifacts) == names


def test_retrain_trains_again_and_replaces_the_file(artifacts):
    train = FakeTrainer()
    first = cached(train)
    again = cached(train, retrain=True)
    assert train.calls == 2 and again.row["calls"] == 2
    assert not torch.equal(first.model[0].weight, again.model[0].weight)
    assert len(files(artifacts)) == 1
    loaded = cached(train)
    assert train.calls == 2 and loaded.row["calls"] == 2
    assert_same_weights(loaded.model, again.model)


def test_different_settings_get_different_files(artifacts):
    train = FakeTrainer()
    cached(train)
    other = cached(train, settings={**SETTINGS, "lr": 2e-3})
    assert train.calls == 2 and other.row["calls"] == 2
    assert len(files(artifacts)) == 2
    same_but_reordered = dict(reversed(list(SETTINGS.items())))  # the key order does not matter
    assert cached(train, settings=same_but_reordered).row["calls"] == 1 and train.calls == 2


def test_failed_training_leaves_no_file(artifacts):
    with pytest.raises(RuntimeError, match="training failed"):
        cached(FakeTrainer(fail=True))
    assert files(artifacts) == []
    train = FakeTrainer()
    cached(train)
    assert train.calls == 1


def test_failed_write_leaves_neither_a_partial_nor_a_broken_file(artifacts, monkeypatch: pytest.MonkeyPatch):
    train = FakeTrainer()
    good = cached(train)
    [name] = files(artifacts)
    real_save = torch.save

    def broken_save(obj, path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        cached(train, retrain=True)
    monkeypatch.setattr(torch, "save", real_save)
    assert files(artifacts) == [name]  # no .partial left, the old file kept whole
    loaded = cached(train)
    assert train.calls == 2 and loaded.row == good.row
    assert_same_weights(loaded.model, good.model)


def test_a_file_with_other_settings_under_the_same_name_is_refused(artifacts):
    cached(FakeTrainer())
    [path] = [p for p in artifacts.rglob("*.pt")]
    saved = torch.load(path, weights_only=False)
    saved["settings"] = {**SETTINGS, "epochs": 99}
    torch.save(saved, path)
    train = FakeTrainer()
    with pytest.raises(ValueError, match="trained with .*'epochs': 99.*delete it or retrain"):
        cached(train)
    assert train.calls == 0
    assert cached(train, retrain=True).row["calls"] == 1  # retrain replaces it
    assert cached(train).row["calls"] == 1 and train.calls == 1


# ----------------------------------------------------------------------------- train_method


@pytest.fixture(scope="module")
def data() -> vqa.VQAData:
    params = {**soc.default_params(fast=True), "num_train_images": 12, "num_val_images": 4, "num_test_images": 4}
    return vqa.load_data(arrays=soc.generate(params, seed=0))


def test_train_method_cache_loads_the_same_row_and_weights_without_training(data, artifacts, monkeypatch):
    calls = []
    real_fit = vqa.fit

    def counting_fit(*args, **kwargs):
        calls.append(kwargs.get("patience"))
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(vqa, "fit", counting_fit)
    options = {"seed": 1, "epochs": 1, "batch_size": 4, "device": torch.device("cpu")}
    first = vqa.train_method("cnn_mlp", data, patience=0, cache=True, **options)
    assert calls == [None] and first.row["patience"] is None  # 0: never stop early
    assert len(list(artifacts.glob("vqa_weights/cnn_mlp-*.pt"))) == 1

    second = vqa.train_method("cnn_mlp", data, patience=0, cache=True, **options)
    assert calls == [None]  # loaded
    assert second.row == first.row
    assert second.fit.history == first.fit.history
    assert_same_weights(first.model, second.model)

    third = vqa.train_method("cnn_mlp", data, cache=True, **options)  # the default patience is another setting
    assert calls == [None, vqa.PATIENCE["cnn_mlp"]] and third.row["patience"] == vqa.PATIENCE["cnn_mlp"]
    assert len(list(artifacts.glob("vqa_weights/*.pt"))) == 2
    vqa.train_method("cnn_mlp", data, patience=0, **options)  # no cache: always trains
    assert len(calls) == 3


def test_train_method_cache_tells_datasets_of_the_same_size_apart(data, artifacts, monkeypatch):
    params = {**soc.default_params(fast=True), "num_train_images": 12, "num_val_images": 4, "num_test_images": 4}
    other = vqa.load_data(arrays=soc.generate(params, seed=5))  # the same sizes, other scenes and questions
    assert other.fingerprint() != data.fingerprint() and data.fingerprint() == data.fingerprint()
    calls = []
    real_fit = vqa.fit
    monkeypatch.setattr(vqa, "fit", lambda *args, **kwargs: calls.append(1) or real_fit(*args, **kwargs))
    options = {"seed": 0, "epochs": 1, "batch_size": 4, "device": torch.device("cpu"), "cache": True}
    vqa.train_method("cnn_mlp", data, **options)
    vqa.train_method("cnn_mlp", other, **options)
    assert len(calls) == 2 and len(list(artifacts.glob("vqa_weights/*.pt"))) == 2
