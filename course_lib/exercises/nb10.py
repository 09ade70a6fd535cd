"""Checks of notebook 10's exercises: how much modality dropout, a temperature for the image alone,
an image-only ONNX graph, and training with autocast."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from course_lib.exercises.core import close, exercise, model_device, require


@torch.no_grad()
def _logits(model: nn.Module, inputs: Mapping[str, Tensor]) -> Tensor:
    """Eval-mode logits (N, C) of ``model`` on ``inputs``, on the CPU."""
    device = model_device(model)
    return model.eval()({m: x.to(device) for m, x in inputs.items()}).float().cpu()


@exercise("10", 1)
def exercise_1(dropout_scores: Mapping[float, Mapping[str, float]], conditions: Sequence[str]) -> str:
    """``dropout_scores`` = {p: {condition: test accuracy}} with p = 0.1 and 0.7 among its keys."""
    require(isinstance(dropout_scores, Mapping), "dropout_scores should be a dict {p: {condition: accuracy}}.")
    missing = [p for p in (0.1, 0.7) if not any(abs(float(key) - p) < 1e-9 for key in dropout_scores)]
    require(not missing, f"dropout_scores has no entry for p = {missing}. Hint: train_fusion(p, features) for each.")
    rows = {round(float(p), 9): scores for p, scores in dropout_scores.items()}
    for p in (0.1, 0.7):
        scores = rows[p]
        require(isinstance(scores, Mapping) and set(scores) == set(conditions),
                f"dropout_scores[{p}] should have one accuracy per condition {list(conditions)}, got "
                f"{list(scores) if isinstance(scores, Mapping) else type(scores).__name__}.")
        bad = {name: value for name, value in scores.items() if not 0.0 <= float(value) <= 1.0}
        require(not bad, f"accuracies are fractions in [0, 1], got {bad} for p = {p}. Hint: accuracy(model, inputs).")
    require(dict(rows[0.1]) != dict(rows[0.7]),
            "p = 0.1 and p = 0.7 give exactly the same accuracies: did you train a new model for each p?")
    return "one row of accuracies per dropout probability."


@exercise("10", 2)
def exercise_2(image_only_scaler: nn.Module, model: nn.Module, calib: Mapping[str, Tensor]) -> str:
    """``image_only_scaler``: a ``TemperatureScaler`` fitted on ``model``'s logits of ``calib["image"]`` alone."""
    from course_lib.calibration import TemperatureScaler, fit_temperature

    require(isinstance(image_only_scaler, TemperatureScaler),
            f"image_only_scaler should be a TemperatureScaler, got {type(image_only_scaler).__name__}.")
    reference = fit_temperature(_logits(model, {"image": calib["image"]}), calib["label"])
    with_audio = fit_temperature(_logits(model, {"image": calib["image"], "audio": calib["audio"]}), calib["label"])
    hint = ("that is the temperature of complete inputs: fit on the logits of model({'image': calib['image']}), "
            "without the audio." if abs(image_only_scaler.temperature - with_audio) <= 2e-3 * with_audio else
            "fit on the calibration split (features_cal.splits['calib']) with the audio absent, against its labels.")
    close(image_only_scaler.temperature, reference, "the temperature", 2e-3 * reference, hint)
    return f"T = {reference:.3f} with the audio absent, against {with_audio:.3f} with both modalities."


@exercise("10", 3)
def exercise_3(image_session, model: nn.Module, images: Tensor) -> str:
    """``image_session``: an ONNX Runtime session of ``model`` exported from an image-only example."""
    from course_lib.export import ONNX_ATOL, ONNX_RTOL, run_onnx

    require(hasattr(image_session, "get_inputs"),
            f"image_session should be an onnxruntime.InferenceSession, got {type(image_session).__name__}. "
            "Hint: onnx_session(export_onnx(deployed, {'image': ...}, path)).")
    names = [node.name for node in image_session.get_inputs()]
    require(names == ["image"], f"the graph's inputs are {names}; it should take the image only. "
                                "Hint: export from an example dict with the key 'image' alone.")
    exported = run_onnx(image_session, {"image": images})
    eager = _logits(model, {"image": images})
    require(exported.shape == eager.shape, f"the graph gives shape {tuple(exported.shape)}, the model "
                                           f"{tuple(eager.shape)}: export the model you are checking.")
    difference = float((exported - eager).abs().max())
    require(torch.allclose(exported, eager, atol=ONNX_ATOL, rtol=ONNX_RTOL),
            f"the graph's logits differ from the model's (audio absent) by up to {difference:.3g}. "
            "Hint: export `deployed` itself.")
    return f"one input, 'image'; largest difference from the eager model {difference:.1e}."


@exercise("10", 4)
def exercise_4(amp_model: nn.Module, amp_accuracy: float, test: Mapping[str, Tensor]) -> str:
    """``amp_model``: a model trained with autocast; ``amp_accuracy``: its accuracy on ``test``."""
    require(isinstance(amp_model, nn.Module), f"amp_model should be the trained nn.Module, got {type(amp_model).__name__}.")
    dtypes = {str(p.dtype) for p in amp_model.parameters()}
    require(dtypes == {"torch.float32"}, f"the weights should stay float32 under autocast, got {dtypes}. "
                                         "Hint: do not call .to(torch.bfloat16) on the model; autocast casts per operation.")
    require(all(bool(torch.isfinite(p).all()) for p in amp_model.parameters()), "some weights are NaN or infinite.")
    predicted = _logits(amp_model, {"image": test["image"], "audio": test["audio"]}).argmax(dim=1)
    reference = float((predicted == test["label"]).double().mean())
    close(amp_accuracy, reference, "amp_accuracy", 0.01, "the test accuracy of amp_model in eval mode.")
    return f"weights in float32, test accuracy {reference:.3f}."
