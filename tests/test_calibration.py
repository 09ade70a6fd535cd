"""Calibration: ECE and reliability bins against hand computations and scikit-learn; temperature scaling."""
import numpy as np
import pytest
import torch
from sklearn.calibration import calibration_curve

from course_lib.calibration import (
    TemperatureScaler,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
)


def calibrated_toy(n: int = 20000, classes: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels drawn from the predicted probabilities themselves: calibrated by construction."""
    generator = torch.Generator().manual_seed(seed)
    logits = 2 * torch.randn(n, classes, generator=generator)
    probs = logits.softmax(dim=1)
    labels = torch.multinomial(probs, 1, generator=generator).squeeze(1)
    return logits, labels


def test_calibrated_toy_has_ece_near_zero():
    logits, labels = calibrated_toy()
    assert expected_calibration_error(logits.softmax(dim=1), labels) < 0.02


def test_overconfident_toy_has_large_ece():
    logits, labels = calibrated_toy()
    assert expected_calibration_error((3 * logits).softmax(dim=1), labels) > 0.1


def test_ece_matches_a_hand_computation():
    # confidences 0.9, 0.9 (one right), 0.6 (right), 0.3 (wrong) with 2 bins (0, 0.5], (0.5, 1]
    probs = torch.tensor([[0.9, 0.1, 0.0], [0.05, 0.9, 0.05], [0.6, 0.2, 0.2], [0.3, 0.35, 0.35]])
    labels = torch.tensor([0, 0, 0, 0])
    # the last sample predicts class 1 (0.35 > 0.3) with confidence 0.35: bin 1, wrong
    # bin (0.5, 1]: confidences 0.9, 0.9, 0.6 -> mean 0.8, accuracy 2/3; bin (0, 0.5]: 0.35, accuracy 0
    expected = 3 / 4 * abs(2 / 3 - 0.8) + 1 / 4 * abs(0 - 0.35)
    assert expected_calibration_error(probs, labels, n_bins=2) == pytest.approx(expected)
    bins = reliability_bins(probs, labels, n_bins=2)
    assert bins.count.tolist() == [1, 3]
    torch.testing.assert_close(bins.confidence, torch.tensor([0.35, 0.8], dtype=torch.float64))
    torch.testing.assert_close(bins.accuracy, torch.tensor([0.0, 2 / 3], dtype=torch.float64))


def test_reliability_bins_match_scikit_learn():
    logits, labels = calibrated_toy(n=3000, classes=10, seed=1)
    probs = (1.7 * logits).softmax(dim=1)
    bins = reliability_bins(probs, labels, n_bins=10)
    confidence, predicted = probs.max(dim=1)
    accuracy, mean_confidence = calibration_curve((predicted == labels).numpy(), confidence.numpy(),
                                                  n_bins=10, strategy="uniform")
    filled = bins.count > 0
    np.testing.assert_allclose(bins.accuracy[filled].numpy(), accuracy)
    np.testing.assert_allclose(bins.confidence[filled].numpy(), mean_confidence, rtol=1e-6)
    assert int(bins.count.sum()) == len(labels)


def test_temperature_scaling_lowers_nll_and_keeps_argmax():
    logits, labels = calibrated_toy(seed=2)
    overconfident = 3 * logits
    scaler = TemperatureScaler().fit(overconfident, labels)
    assert scaler.temperature == pytest.approx(3.0, rel=0.1)
    nll = torch.nn.functional.cross_entropy
    with torch.no_grad():
        scaled = scaler(overconfident)
    assert nll(scaled, labels) < nll(overconfident, labels)
    assert torch.equal(scaled.argmax(dim=1), overconfident.argmax(dim=1))
    assert expected_calibration_error(scaled.softmax(dim=1), labels) < 0.02


def test_underconfident_logits_get_a_temperature_below_one():
    logits, labels = calibrated_toy(seed=3)
    assert fit_temperature(logits / 2, labels) == pytest.approx(0.5, rel=0.1)


@pytest.mark.parametrize(("probs", "labels", "message"), [
    (torch.full((4,), 0.25), torch.zeros(4, dtype=torch.long), r"probs must have shape \(N, C\)"),
    (torch.full((4, 2), 0.5), torch.zeros(3, dtype=torch.long), r"labels must have shape \(4,\)"),
    (torch.full((4, 2), 0.7), torch.zeros(4, dtype=torch.long), "rows sum to 1"),
    (torch.full((4, 2), 0.5), torch.full((4,), 2), r"integer classes in \[0, 2\)"),
    (torch.full((4, 2), 0.5), torch.zeros(4), "integer classes"),
])
def test_bad_inputs_raise_clear_errors(probs, labels, message):
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(probs, labels)


def test_bad_bins_and_bad_logits():
    probs, labels = torch.full((4, 2), 0.5), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="n_bins must be a positive int"):
        reliability_bins(probs, labels, n_bins=0)
    with pytest.raises(ValueError, match=r"TemperatureScaler: logits must have shape \(N, C\)"):
        TemperatureScaler().fit(torch.zeros(4), labels)
    with pytest.raises(ValueError, match=r"TemperatureScaler: labels must have shape \(4,\)"):
        TemperatureScaler().fit(torch.zeros(4, 2), labels[:3])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_softmax_output_is_accepted_and_binned_like_float64(dtype):
    logits, labels = calibrated_toy(n=2000, classes=10, seed=4)
    probs = logits.to(dtype).softmax(dim=1)
    assert (probs.double().sum(dim=1) - 1).abs().max() > 1e-4  # the old tolerance rejected these
    renormalised = probs.double() / probs.double().sum(dim=1, keepdim=True)
    assert expected_calibration_error(probs, labels) == pytest.approx(
        expected_calibration_error(renormalised, labels), abs=1e-3)


def test_nan_probabilities_are_rejected():
    probs = torch.full((3, 2), 0.5)
    probs[1, 0] = float("nan")
    with pytest.raises(ValueError, match=r"rows sum to 1.*got values from nan"):
        expected_calibration_error(probs, torch.zeros(3, dtype=torch.long))


CUDA = pytest.param("cuda", marks=[pytest.mark.cuda,
                                   pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")])


@pytest.mark.parametrize("device", ["cpu", CUDA])
def test_bins_ece_and_temperature_stay_on_the_inputs_device(device):
    logits, labels = calibrated_toy(n=3000, seed=5)
    logits = 2.5 * logits
    probs = logits.softmax(dim=1)  # the same values on both devices: no sample changes bin
    cpu_bins = reliability_bins(probs, labels, n_bins=10)
    bins = reliability_bins(probs.to(device), labels.to(device), n_bins=10)
    assert bins.edges.device.type == bins.count.device.type == device
    assert bins.count.cpu().tolist() == cpu_bins.count.tolist()
    torch.testing.assert_close(bins.accuracy.cpu(), cpu_bins.accuracy, equal_nan=True)
    assert expected_calibration_error(probs.to(device), labels.to(device), n_bins=10) == pytest.approx(
        expected_calibration_error(probs, labels, n_bins=10), abs=1e-9)
    scaler = TemperatureScaler().fit(logits.to(device), labels.to(device))
    assert scaler.log_temperature.device.type == device
    assert scaler.temperature == pytest.approx(2.5, rel=0.1)
    assert scaler.temperature == pytest.approx(fit_temperature(logits, labels), rel=1e-3)
    assert scaler(logits.to(device)).device.type == device
    assert scaler(logits).device.type == "cpu"  # forward follows the logits' device
