"""The AV-Digits fusion experiment of notebook 03: models, audio front end, data, table."""
import pytest
import torch

from course_lib.experiments import av_digits_fusion as avf
from course_lib.models import GatedFusion, LateFusion
from course_lib.models.decision_fusion import DecisionFusion
from course_lib.models.early_fusion import EarlyFusionModel

BATCH = 4
FRAMES = 1 + 16_000 // avf.HOP_LENGTH


def random_batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {"image": torch.rand(BATCH, 1, 28, 28, generator=generator),
            "audio": torch.randn(BATCH, avf.N_MELS, FRAMES, generator=generator),
            "label": torch.arange(BATCH)}


TRAINED_TOGETHER = [m for m in avf.METHODS if m not in avf.DECISION_METHODS and m != "early"]


@pytest.mark.parametrize("method", TRAINED_TOGETHER)
def test_every_method_maps_a_batch_to_logits(method):
    model = avf.build_model(method)
    logits = model(random_batch())
    assert logits.shape == (BATCH, avf.NUM_CLASSES)
    logits.sum().backward()
    used = list(model.encoders)
    assert used == ([method] if method in avf.UNIMODAL else list(avf.UNIMODAL))
    for modality in used:
        grads = [p.grad for p in model.encoders[modality].parameters()]
        assert all(g is not None and g.abs().sum() > 0 for g in grads), f"no gradient reaches the {modality} encoder"


def test_early_fusion_is_one_cnn_over_both_inputs():
    model = avf.build_model("early")
    assert isinstance(model, EarlyFusionModel)
    assert model.stack(random_batch()).shape == (BATCH, 2, *avf.IMAGE_SIZE)
    logits = model(random_batch())
    assert logits.shape == (BATCH, avf.NUM_CLASSES)
    logits.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    assert str(model.head) == str(avf.build_model("image").head)  # the unimodal models' head


@pytest.mark.parametrize("method", avf.DECISION_METHODS)
def test_decision_methods_combine_the_unimodal_models(method):
    model = avf.build_model(method)
    assert isinstance(model, DecisionFusion) and model.modalities == avf.UNIMODAL
    for modality in avf.UNIMODAL:
        assert str(model.models[modality]) == str(avf.build_model(modality))
    log_probs = model.eval()(random_batch())
    assert log_probs.shape == (BATCH, avf.NUM_CLASSES)
    torch.testing.assert_close(log_probs.exp().sum(1), torch.ones(BATCH))


def test_every_method_has_a_stage():
    assert set(avf.STAGES) == set(avf.METHODS)
    assert set(avf.STAGES.values()) == {"unimodal", "early", "intermediate", "late"}
    assert all(avf.STAGES[m] == "late" for m in avf.DECISION_METHODS)


def test_methods_share_encoders_and_head_size():
    concat, gated, late = (avf.build_model(m) for m in ("concat", "gated", "late"))
    assert isinstance(gated.fusion, GatedFusion) and isinstance(late.fusion, LateFusion)
    assert isinstance(late.head, torch.nn.Identity)
    for modality in avf.UNIMODAL:
        assert str(concat.encoders[modality]) == str(gated.encoders[modality])
    assert str(concat.head) == str(gated.head)


def test_unknown_method_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown method 'sum'"):
        avf.build_model("sum")
    with pytest.raises(ValueError, match="optimizer must be"):
        avf.make_optimizer("lbfgs", avf.build_model("image").parameters())


def test_markdown_table_has_one_line_per_row():
    rows = [{"name": "image only", "accuracy": 0.5, "macro_f1": 0.25, "parameters": 1234, "seconds": 1.0},
            {"name": "late", "accuracy": 0.875, "macro_f1": 0.8, "parameters": 99, "seconds": 2.5}]
    table = avf.markdown_table(rows).splitlines()
    assert len(table) == 4
    assert table[2] == "| image only | 50.0 % | 25.0 % | 1,234 | 1.0 |"
    assert "87.5 %" in table[3]


@pytest.mark.parametrize("method", ["concat", "gated", "early"])
def test_parameter_groups_cover_every_parameter_once(method):
    model = avf.build_model(method)
    groups = avf.parameter_groups(model, lr=1e-3, gate_lr_scale=0.1)
    grouped = [id(p) for group in groups for p in group["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())
    if method == "gated":
        gate = {id(p) for p in model.fusion.gate.parameters()}
        assert [group["lr"] for group in groups] == [1e-3, pytest.approx(1e-4)]
        assert {id(p) for p in groups[1]["params"]} == gate
    else:
        assert [group["lr"] for group in groups] == [1e-3]


def test_a_learning_rate_of_zero_is_kept_not_replaced_by_the_default():
    params = [torch.nn.Parameter(torch.zeros(2))]
    assert avf.make_optimizer("adam", params, lr=0.0).param_groups[0]["lr"] == 0.0
    assert avf.make_optimizer("sgd", params).param_groups[0]["lr"] == avf.LEARNING_RATES["sgd"]


@pytest.fixture(scope="module")
def tiny_features():
    """A small AV-Digits-shaped dataset in memory (random, 2 classes' worth of signal is not needed)."""
    import numpy as np

    from course_lib.data import av_digits

    rng = np.random.default_rng(0)
    n = 60
    arrays = {"image": rng.random((n, 1, 28, 28), dtype=np.float32),
              "audio": (rng.standard_normal((n, 16_000)) * 3000).astype(np.int16),
              "label": np.arange(n) % avf.NUM_CLASSES,
              "snr_db": np.zeros(n, dtype=np.float32),
              "split": np.array(["train"] * 40 + ["val"] * 10 + ["test"] * 10)}
    assert set(av_digits.SPLITS) == {"train", "val", "test"}
    return avf.load_features(arrays=arrays)


def test_decision_methods_reuse_the_unimodal_models_they_are_given(tiny_features):
    unimodal = {m: avf.train_method(m, tiny_features, epochs=1, seed=0, device=torch.device("cpu"))
                for m in avf.UNIMODAL}
    average = avf.train_method("late_average", tiny_features, epochs=1, seed=0, unimodal=unimodal,
                               device=torch.device("cpu"))
    assert average.model.models["image"] is unimodal["image"].model
    assert average.row["weights"] == {"image": 0.5, "audio": 0.5}
    assert average.row["parameters"] == sum(unimodal[m].row["parameters"] for m in avf.UNIMODAL)
    weighted = avf.train_method("late_weighted", tiny_features, epochs=1, seed=0, unimodal=unimodal,
                                device=torch.device("cpu"))
    assert abs(sum(weighted.row["weights"].values()) - 1) < 1e-6
    # without unimodal results it trains the same two models itself (same seed: the same numbers)
    again = avf.train_method("late_average", tiny_features, epochs=1, seed=0, device=torch.device("cpu"))
    assert again.row["accuracy"] == average.row["accuracy"]
    with pytest.raises(ValueError, match="missing"):
        avf.combine_decisions("late_average", {"image": unimodal["image"]}, tiny_features)


def test_a_split_beyond_train_val_test_becomes_its_own_split():
    """Notebook 10 holds voices out as a "calib" split: its clips are kept apart, normalised like the rest."""
    import numpy as np

    rng = np.random.default_rng(1)
    n = 40
    split = np.array(["train"] * 20 + ["val"] * 6 + ["calib"] * 8 + ["test"] * 6)
    arrays = {"image": rng.random((n, 1, 28, 28), dtype=np.float32),
              "audio": (rng.standard_normal((n, 16_000)) * 3000).astype(np.int16),
              "label": np.arange(n) % avf.NUM_CLASSES, "snr_db": np.zeros(n, dtype=np.float32), "split": split}
    features = avf.load_features(arrays=arrays)
    assert {name: len(features.splits[name]["label"]) for name in ("train", "val", "calib", "test")} == {
        "train": 20, "val": 6, "calib": 8, "test": 6}
    calib = np.flatnonzero(split == "calib")
    assert np.array_equal(features.splits["calib"]["label"].numpy(), arrays["label"][calib])
