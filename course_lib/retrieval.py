"""Retrieval metrics: rank a gallery for every query, then count where the relevant items landed.

    similarity = queries @ gallery.T                            # (Q, N) scores, higher = closer
    relevant = relevance(query_labels, gallery_labels)          # (Q, N) bool: which items are right answers
    recall_at_k(similarity, relevant, k=5)                      # share of queries with a right answer in the top 5
    precision_at_k(similarity, relevant, k=5)                   # mean share of right answers among the top 5
    mean_average_precision(similarity, relevant)                # mean over queries of average precision

Instance-level retrieval (one right answer: the query's own partner) uses
``relevant = torch.eye(N, dtype=torch.bool)``; class-level retrieval (every item of the
query's class is right) uses ``relevance(labels_q, labels_n)``. Computing Recall@K against
the partner alone when several items share the class (or the very caption) counts correct
answers as misses; that is why ``relevant`` is explicit here.

Ties: items with equal scores are ranked pessimistically, irrelevant ones first, so a model
cannot score better by giving many items the same score (a constant model ranks every right
answer last). Every query needs at least one relevant item.
"""
from __future__ import annotations

import torch
from torch import Tensor


def relevance(query_labels: Tensor, gallery_labels: Tensor) -> Tensor:
    """(Q,) and (N,) labels -> (Q, N) bool: True where a gallery item has the query's label."""
    for name, labels in (("query_labels", query_labels), ("gallery_labels", gallery_labels)):
        if not isinstance(labels, Tensor) or labels.ndim != 1:
            raise ValueError(f"relevance: {name} must be a 1-d tensor, got "
                             f"{tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__}")
    return query_labels[:, None] == gallery_labels[None, :]


def _check(similarity: Tensor, relevant: Tensor) -> None:
    if not isinstance(similarity, Tensor) or similarity.ndim != 2:
        raise ValueError(f"similarity must be a (Q, N) tensor, got "
                         f"{tuple(similarity.shape) if isinstance(similarity, Tensor) else type(similarity).__name__}")
    if not isinstance(relevant, Tensor) or relevant.shape != similarity.shape or relevant.dtype != torch.bool:
        got = (tuple(relevant.shape), relevant.dtype) if isinstance(relevant, Tensor) else type(relevant).__name__
        raise ValueError(f"relevant must be a bool tensor of the similarity's shape {tuple(similarity.shape)}, got {got}")
    empty = int((~relevant.any(dim=1)).sum())
    if empty:
        raise ValueError(f"{empty} of {len(relevant)} queries have no relevant item; every query needs at least one")


def ranked_relevance(similarity: Tensor, relevant: Tensor) -> Tensor:
    """(Q, N) bool: for each query, whether its 1st, 2nd, ... ranked item is relevant.

    Items are sorted by decreasing similarity; among equal similarities the irrelevant items
    come first (pessimistic ties).
    """
    _check(similarity, relevant)
    # Two stable sorts: first by the tie-breaker (irrelevant first), then by the score.
    by_relevance = torch.sort(relevant.to(torch.uint8), dim=1, stable=True).indices
    scores = similarity.gather(1, by_relevance)
    by_score = torch.sort(scores, dim=1, descending=True, stable=True).indices
    return relevant.gather(1, by_relevance.gather(1, by_score))


def _check_k(k: int, n: int) -> None:
    if not isinstance(k, int) or not 1 <= k <= n:
        raise ValueError(f"k must be an int in [1, {n}] (the gallery size), got {k!r}")


def recall_at_k(similarity: Tensor, relevant: Tensor, k: int) -> float:
    """Share of queries with at least one relevant item among their top ``k`` (the hit rate,
    "Recall@K" of the retrieval literature)."""
    _check_k(k, similarity.shape[-1] if isinstance(similarity, Tensor) and similarity.ndim == 2 else 1)
    return ranked_relevance(similarity, relevant)[:, :k].any(dim=1).float().mean().item()


def precision_at_k(similarity: Tensor, relevant: Tensor, k: int) -> float:
    """Mean over queries of the share of relevant items among the top ``k``."""
    _check_k(k, similarity.shape[-1] if isinstance(similarity, Tensor) and similarity.ndim == 2 else 1)
    return ranked_relevance(similarity, relevant)[:, :k].float().mean(dim=1).mean().item()


def average_precision(similarity: Tensor, relevant: Tensor) -> Tensor:
    """(Q,) average precision of each query: the mean, over its relevant items, of the
    precision of the ranking cut just after that item."""
    ranked = ranked_relevance(similarity, relevant).float()
    hits = ranked.cumsum(dim=1)
    ranks = torch.arange(1, ranked.shape[1] + 1, dtype=hits.dtype, device=hits.device)
    return (hits / ranks * ranked).sum(dim=1) / ranked.sum(dim=1)


def mean_average_precision(similarity: Tensor, relevant: Tensor) -> float:
    """mAP: the mean over queries of ``average_precision``."""
    return average_precision(similarity, relevant).mean().item()


def retrieval_report(similarity: Tensor, relevant: Tensor, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """``{"R@1": ..., "R@5": ..., "P@1": ..., "P@5": ..., "mAP": ...}`` for the given ``ks``."""
    report = {f"R@{k}": recall_at_k(similarity, relevant, k) for k in ks}
    report.update({f"P@{k}": precision_at_k(similarity, relevant, k) for k in ks})
    report["mAP"] = mean_average_precision(similarity, relevant)
    return report
