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
