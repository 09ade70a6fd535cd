"""Per-group scores of the recipes' table rows."""
import pytest
import torch

from course_lib.experiments.common import group_accuracy


def test_group_accuracy_scores_each_group_and_leaves_out_empty_ones():
    correct = torch.tensor([True, False, True, True, False])
    groups = torch.tensor([0, 0, 2, 2, 2])
    scores = group_accuracy(correct, groups, ("a", "b", "c"), prefix="digit_")
    assert scores == {"digit_a": pytest.approx(0.5), "digit_c": pytest.approx(2 / 3)}  # no "digit_b": no NaN


def test_group_accuracy_needs_matching_shapes():
    with pytest.raises(ValueError, match=r"correct \(3,\) and groups \(2,\)"):
        group_accuracy(torch.ones(3, dtype=torch.bool), torch.zeros(2, dtype=torch.long), ("a",))
