"""Notebook 10's exercise checks: right answers pass, wrong ones and None get "not yet", strict mode raises."""
from __future__ import annotations

import torch

from course_lib.calibration import TemperatureScaler
from course_lib.exercises import nb10
from course_lib.export import export_onnx, onnx_session
from course_lib.models import ImageEncoder, MLPEncoder, MultimodalModel, make_fusion, make_head
from course_lib.models.modality_dropout import ModalityDropoutModel

from exercise_checks import strict_fails

CONDITIONS = ["both", "image only (audio missing)", "audio only (image missing)"]


def tiny_model(seed: int = 0) -> ModalityDropoutModel:
    """image (B, 1, 8, 8) and audio (B, 10) -> logits (B, 3), in eval mode."""
    torch.manual_seed(seed)
    encoders = {"image": ImageEncoder(out_dim=6, channels=(4,)), "audio": MLPEncoder(in_dim=10, out_dim=5, hidden=(8,))}
    fusion = make_fusion("concat", {"image": 6, "audio": 5}, out_dim=8)
    return ModalityDropoutModel(MultimodalModel(encoders, fusion, make_head(8, 3)), p=0.3).eval()


def tiny_split(n: int = 200, seed: int = 1) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {"image": torch.randn(n, 1, 8, 8, generator=generator), "audio": torch.randn(n, 10, generator=generator),
            "label": torch.randint(0, 3, (n,), generator=generator)}


def test_exercise_1(monkeypatch, capsys):
    right = {0.1: dict(zip(CONDITIONS, (0.8, 0.6, 0.5))), 0.7: dict(zip(CONDITIONS, (0.7, 0.65, 0.6)))}
    assert nb10.exercise_1(right, CONDITIONS)
    missing_p = {0.1: right[0.1]}
    assert not nb10.exercise_1(missing_p, CONDITIONS)
    assert "p = [0.7]" in capsys.readouterr().out
    percent = {0.1: dict(zip(CONDITIONS, (80.0, 60.0, 50.0))), 0.7: right[0.7]}
    assert not nb10.exercise_1(percent, CONDITIONS)
    same = {0.1: right[0.1], 0.7: dict(right[0.1])}
    assert not nb10.exercise_1(same, CONDITIONS)
    assert not nb10.exercise_1(None, CONDITIONS)
    strict_fails(monkeypatch, nb10.exercise_1, missing_p, CONDITIONS)


def test_exercise_2(monkeypatch, capsys):
    model, calib = tiny_model(), tiny_split()
    with torch.no_grad():
        image_only = model({"image": calib["image"]})
        both = model({"image": calib["image"], "audio": calib["audio"]})
    right = TemperatureScaler().fit(image_only, calib["label"])
    assert nb10.exercise_2(right, model, calib)
    complete = TemperatureScaler().fit(both, calib["label"])
    assert abs(complete.temperature - right.temperature) > 1e-2
    assert not nb10.exercise_2(complete, model, calib)
    assert "complete inputs" in capsys.readouterr().out
    assert not nb10.exercise_2(right.temperature, model, calib)  # a float, not the scaler
    assert not nb10.exercise_2(None, model, calib)
    strict_fails(monkeypatch, nb10.exercise_2, complete, model, calib)


def test_exercise_3(monkeypatch, tmp_path, capsys):
    model, images = tiny_model(), tiny_split(n=16)["image"]
    right = onnx_session(export_onnx(model, {"image": images[:4]}, tmp_path / "image_only.onnx"))
    assert nb10.exercise_3(right, model, images)
    both = onnx_session(export_onnx(model, {"image": images[:4], "audio": torch.randn(4, 10)}, tmp_path / "both.onnx"))
    assert not nb10.exercise_3(both, model, images)
    assert "image only" in capsys.readouterr().out
    other = onnx_session(export_onnx(tiny_model(seed=5), {"image": images[:4]}, tmp_path / "other.onnx"))
    assert not nb10.exercise_3(other, model, images)
    assert not nb10.exercise_3(None, model, images)
    strict_fails(monkeypatch, nb10.exercise_3, both, model, images)


def test_exercise_4(monkeypatch):
    model, test = tiny_model(), tiny_split(n=100)
    with torch.no_grad():
        accuracy = float((model(test).argmax(1) == test["label"]).double().mean())
    assert nb10.exercise_4(model, accuracy, test)
    assert not nb10.exercise_4(model, accuracy + 0.1, test)
    assert not nb10.exercise_4(tiny_model().to(torch.bfloat16), accuracy, test)
    assert not nb10.exercise_4(None, accuracy, test)
    strict_fails(monkeypatch, nb10.exercise_4, model, accuracy + 0.1, test)
