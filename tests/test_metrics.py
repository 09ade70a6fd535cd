"""Metrics against scikit-learn (with explicit labels), on small dtypes and absent classes; bad input."""
import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from course_lib.metrics import accuracy, classification_report, confusion_matrix


@pytest.fixture
def labels():
    g = torch.Generator().manual_seed(0)
    targets = torch.randint(0, 5, (300,), generator=g)
    preds = torch.where(torch.rand(300, generator=g) < 0.6, targets, torch.randint(0, 5, (300,), generator=g))
    preds[preds == 4] = 3  # class 4 is never predicted: its precision is undefined
    return preds, targets


def test_accuracy_matches_sklearn_and_accepts_logits(labels):
    preds, targets = labels
    assert accuracy(preds, targets) == pytest.approx(skm.accuracy_score(targets, preds))
    logits = torch.nn.functional.one_hot(preds, 5).float()
    assert accuracy(logits, targets) == pytest.approx(skm.accuracy_score(targets, preds))


def test_confusion_matrix_matches_sklearn(labels):
    preds, targets = labels
    expected = skm.confusion_matrix(targets, preds, labels=range(5))
    np.testing.assert_array_equal(confusion_matrix(preds, targets, 5).numpy(), expected)


def test_report_matches_sklearn_per_class_and_macro(labels):
    preds, targets = labels
    report = classification_report(preds, targets, 5)
    p, r, f, s = skm.precision_recall_fscore_support(targets, preds, labels=range(5), zero_division=0)
    np.testing.assert_allclose(report["precision"].numpy(), p)
    np.testing.assert_allclose(report["recall"].numpy(), r)
    np.testing.assert_allclose(report["f1"].numpy(), f)
    np.testing.assert_array_equal(report["support"].numpy(), s)
    assert report["macro_f1"] == pytest.approx(skm.f1_score(targets, preds, average="macro", zero_division=0))
    assert report["macro_recall"] == pytest.approx(skm.recall_score(targets, preds, average="macro", zero_division=0))
    assert report["accuracy"] == pytest.approx(skm.accuracy_score(targets, preds))
    assert report["precision"][4] == 0


def test_perfect_predictions_score_one():
    y = torch.arange(4).repeat(5)
    report = classification_report(y, y, 4)
    assert report["macro_f1"] == 1.0 and accuracy(y, y) == 1.0


def test_bad_inputs_give_clear_errors():
    with pytest.raises(ValueError, match="same length"):
        accuracy(torch.zeros(3, dtype=torch.long), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="integer class indices"):
        accuracy(torch.rand(3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        confusion_matrix(torch.tensor([0, 3]), torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match="empty"):
        accuracy(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    with pytest.raises(TypeError, match="torch.Tensor"):
        accuracy([0, 1], torch.tensor([0, 1]))


def test_confusion_matrix_of_uint8_labels_does_not_overflow():
    # 30 classes: targets * 30 + preds overflows uint8 for any label above 8
    preds = targets = torch.tensor([9, 20, 29], dtype=torch.uint8)
    cm = confusion_matrix(preds, targets, 30)
    expected = skm.confusion_matrix(targets.numpy(), preds.numpy(), labels=range(30))
    np.testing.assert_array_equal(cm.numpy(), expected)
    assert cm.trace() == 3 and cm.dtype == torch.int64
    assert accuracy(preds, targets.to(torch.int16)) == 1.0


def test_macro_averages_skip_a_class_absent_from_preds_and_targets():
    targets = torch.tensor([0, 0, 1, 1, 2, 2, 2])
    preds = torch.tensor([0, 1, 1, 1, 2, 0, 2])  # class 3 of 5 occurs nowhere, class 4 neither
    report = classification_report(preds, targets, 5)
    p, r, f, _ = skm.precision_recall_fscore_support(targets, preds, labels=range(5), zero_division=0)
    np.testing.assert_allclose(report["f1"].numpy(), f)
    present = [0, 1, 2]
    for key, average in (("macro_precision", p), ("macro_recall", r), ("macro_f1", f)):
        assert report[key] == pytest.approx(average[present].mean())
    assert report["macro_f1"] == pytest.approx(skm.f1_score(targets, preds, average="macro", zero_division=0))
    assert report["macro_f1"] == pytest.approx(
        skm.f1_score(targets, preds, labels=present, average="macro", zero_division=0))


def test_perfect_predictions_on_two_of_three_classes_have_macro_f1_one():
    y = torch.tensor([0, 1, 0, 1])
    report = classification_report(y, y, 3)
    assert report["macro_f1"] == report["macro_recall"] == report["macro_precision"] == 1.0
    assert report["f1"].tolist() == [1.0, 1.0, 0.0] and report["support"].tolist() == [2, 2, 0]


def test_a_class_only_predicted_counts_in_the_macro_average():
    targets, preds = torch.tensor([0, 0, 1]), torch.tensor([0, 2, 1])  # class 2 predicted, never true
    report = classification_report(preds, targets, 3)
    assert report["macro_precision"] == pytest.approx(
        skm.precision_score(targets, preds, average="macro", zero_division=0))
    assert report["macro_f1"] == pytest.approx(skm.f1_score(targets, preds, average="macro", zero_division=0))


def test_one_binary_logit_per_sample_is_an_error_not_class_zero():
    logits = torch.tensor([[2.0], [-1.0], [3.0]])
    with pytest.raises(ValueError, match=r"preds of shape \(3, 1\) holds one score per sample.*C >= 2"):
        accuracy(logits, torch.tensor([1, 0, 1]))


@pytest.mark.parametrize("targets", [torch.eye(3)[[0, 2, 1]], torch.tensor([[0.7, 0.3], [0.2, 0.8], [0.5, 0.5]])],
                         ids=["one-hot", "soft"])
def test_two_dimensional_targets_are_an_error(targets):
    preds = torch.tensor([0, 1, 1])
    with pytest.raises(ValueError, match=r"targets must have shape \(N,\) class indices, got \(3, \d\).*argmax"):
        accuracy(preds, targets)
    with pytest.raises(ValueError, match="targets must have shape"):
        confusion_matrix(preds, targets, 3)
