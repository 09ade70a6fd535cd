"""Retrieval metrics against a brute-force computation, with ties and duplicate classes."""
from __future__ import annotations

import pytest
import torch

from course_lib.retrieval import (
    average_precision,
    mean_average_precision,
    precision_at_k,
    ranked_relevance,
    recall_at_k,
    relevance,
    retrieval_report,
)


def brute_force_ranking(scores: list[float], relevant: list[bool]) -> list[bool]:
    """Sort the items by decreasing score; among equal scores, irrelevant items first (pessimistic)."""
    order = sorted(range(len(scores)), key=lambda j: (-scores[j], relevant[j]))
    return [relevant[j] for j in order]


def brute_force(similarity: torch.Tensor, relevant: torch.Tensor, k: int) -> dict[str, float]:
    recalls, precisions, aps = [], [], []
    for scores, rel in zip(similarity.tolist(), relevant.tolist()):
        ranked = brute_force_ranking(scores, rel)
        recalls.append(1.0 if any(ranked[:k]) else 0.0)
        precisions.append(sum(ranked[:k]) / k)
        hits, precision_sum = 0, 0.0
        for rank, is_relevant in enumerate(ranked, start=1):
            if is_relevant:
                hits += 1
                precision_sum += hits / rank
        aps.append(precision_sum / hits)
    n = len(recalls)
    return {"recall": sum(recalls) / n, "precision": sum(precisions) / n, "map": sum(aps) / n, "aps": aps}


def test_relevance_marks_duplicate_classes() -> None:
    relevant = relevance(torch.tensor([0, 1]), torch.tensor([1, 0, 1, 2]))
    assert relevant.tolist() == [[False, True, False, False], [True, False, True, False]]


def test_hand_computed_example() -> None:
    # One query, 5 items; relevant items at ranks 2 and 4.
    similarity = torch.tensor([[0.9, 0.8, 0.7, 0.6, 0.5]])
    relevant = torch.tensor([[False, True, False, True, False]])
    assert recall_at_k(similarity, relevant, 1) == 0.0
    assert recall_at_k(similarity, relevant, 2) == 1.0
    assert precision_at_k(similarity, relevant, 4) == pytest.approx(0.5)
    assert mean_average_precision(similarity, relevant) == pytest.approx((1 / 2 + 2 / 4) / 2)


def test_ties_are_pessimistic() -> None:
    # Every item scores the same: the relevant one ranks last.
    similarity = torch.zeros(1, 4)
    relevant = torch.tensor([[True, False, False, False]])
    assert ranked_relevance(similarity, relevant).tolist() == [[False, False, False, True]]
    assert recall_at_k(similarity, relevant, 3) == 0.0
    assert mean_average_precision(similarity, relevant) == pytest.approx(1 / 4)


def test_duplicate_captions_count_as_hits() -> None:
    # Items 0 and 1 share the query's caption: retrieving item 1 first is a hit, not a miss.
    similarity = torch.tensor([[0.5, 0.9, 0.1]])
    labels = torch.tensor([7, 7, 3])
    assert recall_at_k(similarity, relevance(labels[:1], labels), 1) == 1.0
    assert recall_at_k(similarity, torch.eye(3, dtype=torch.bool)[:1], 1) == 0.0  # the partner alone


@pytest.mark.parametrize("seed", range(5))
def test_against_brute_force_with_ties_and_duplicates(seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    q, n = 12, 30
    # Few distinct scores, so many ties; few classes, so many relevant items per query.
    similarity = torch.randint(0, 5, (q, n), generator=generator).float() / 4
    relevant = relevance(torch.randint(0, 4, (q,), generator=generator), torch.randint(0, 4, (n,), generator=generator))
    relevant[:, 0] |= ~relevant.any(dim=1)  # every query needs a relevant item
    for k in (1, 3, 10, n):
        expected = brute_force(similarity, relevant, k)
        assert recall_at_k(similarity, relevant, k) == pytest.approx(expected["recall"])
        assert precision_at_k(similarity, relevant, k) == pytest.approx(expected["precision"])
    expected = brute_force(similarity, relevant, 1)
    assert mean_average_precision(similarity, relevant) == pytest.approx(expected["map"])
    assert average_precision(similarity, relevant).tolist() == pytest.approx(expected["aps"])


def test_perfect_and_reversed_rankings() -> None:
    labels = torch.tensor([0, 0, 1, 1, 2])
    relevant = relevance(labels, labels)
    perfect = relevant.float()
    assert mean_average_precision(perfect, relevant) == pytest.approx(1.0)
    assert precision_at_k(perfect, relevant, 1) == pytest.approx(1.0)
    assert mean_average_precision(-perfect, relevant) < 0.6
    report = retrieval_report(perfect, relevant, ks=(1, 2))  # P@2: the last query has one right answer of 2
    assert report == pytest.approx({"R@1": 1.0, "R@2": 1.0, "P@1": 1.0, "P@2": 0.9, "mAP": 1.0})


def test_bad_inputs_get_clear_errors() -> None:
    similarity = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="no relevant item"):
        recall_at_k(similarity, torch.tensor([[True, False, False], [False, False, False]]), 1)
    with pytest.raises(ValueError, match="bool tensor"):
        recall_at_k(similarity, torch.ones(2, 3), 1)
    with pytest.raises(ValueError, match="k must be"):
        precision_at_k(similarity, torch.ones(2, 3, dtype=torch.bool), 4)
