"""Checks of notebook 01's exercises: standardization, a broadcasting bug, masked pooling, autograd, collate."""
from __future__ import annotations

from collections.abc import Callable

import torch

from course_lib.exercises.core import NotYet, exercise, require


def _tensor(value, name: str, shape: tuple[int, ...]) -> torch.Tensor:
    """Raise NotYet unless ``value`` is a tensor of ``shape``."""
    require(isinstance(value, torch.Tensor), f"{name} should be a torch.Tensor, got {type(value).__name__}.")
    require(tuple(value.shape) == shape, f"{name} has shape {tuple(value.shape)}, expected {shape}.")
    return value


@exercise("01", 1)
def exercise_1(standardized: torch.Tensor, batch: torch.Tensor) -> str:
    """``standardized`` (16, 3, 8, 8): ``batch`` (16, 3, 8, 8) with every channel at mean 0 and std 1."""
    _tensor(batch, "batch", (16, 3, 8, 8))
    _tensor(standardized, "standardized", (16, 3, 8, 8))
    dims = (0, 2, 3)
    means, stds = standardized.mean(dim=dims), standardized.std(dim=dims)
    require(torch.allclose(means, torch.zeros(3), atol=1e-4),
            f"the channel means are {means.tolist()}, expected 0 each. Hint: take the mean over dims (0, 2, 3) "
            "with keepdim=True so that it broadcasts back, one value per channel.")
    require(torch.allclose(stds, torch.ones(3), atol=1e-2),
            f"the channel standard deviations are {stds.tolist()}, expected about 1 each. Hint: divide by the "
            "std over the same dims (0, 2, 3), not by the whole batch's std.")
    reference = (batch - batch.mean(dim=dims, keepdim=True)) / batch.std(dim=dims, keepdim=True)
    require(torch.allclose(standardized, reference, atol=1e-2),
            "standardized is not batch standardized per channel. Hint: (batch - mean) / std of this batch.")
    return "every channel now has mean 0 and standard deviation 1."


@exercise("01", 2)
def exercise_2(hits: torch.Tensor) -> str:
    """``hits`` (3,) bool: whether each prediction of the exercise's logits matches its own label."""
    logits = torch.tensor([[2.0, 0.1], [0.3, 1.5], [0.9, 0.2]])
    labels = torch.tensor([0, 1, 1])
    require(isinstance(hits, torch.Tensor), f"hits should be a tensor, got {type(hits).__name__}.")
    require(tuple(hits.shape) == (3,),
            f"hits has shape {tuple(hits.shape)}, expected (3,): one entry per prediction. Hint: with "
            "keepdim=True the argmax is (3, 1), and (3, 1) == (3,) broadcasts to (3, 3).")
    require(torch.equal(hits.bool(), logits.argmax(dim=1) == labels),
            "hits should compare each prediction with its own label. Hint: logits.argmax(dim=1) == labels.")
    return f"accuracy {hits.float().mean():.3f} = 2/3."


@exercise("01", 3)
def exercise_3(pooled: torch.Tensor, vectors: torch.Tensor, text_mask: torch.Tensor) -> str:
    """``pooled`` (B, D): the max over each sentence's real positions of ``vectors`` (B, L, D)."""
    batch, _, dim = vectors.shape
    _tensor(pooled, "pooled", (batch, dim))
    reference = torch.stack([vectors[i][text_mask[i]].amax(dim=0) for i in range(batch)]).detach()
    if torch.equal(pooled.detach(), vectors.amax(dim=1).detach()) and not torch.equal(pooled.detach(), reference):
        raise NotYet("pooled is the plain max, which lets the padding's zeros win. Hint: "
                     "vectors.masked_fill(~text_mask[..., None], float('-inf')) before .amax(dim=1).")
    require(torch.allclose(pooled.detach(), reference),
            "pooled differs from the max over each sentence's real positions. Hint: the mask (B, L) needs a "
            "trailing axis, text_mask[..., None], to broadcast over the features.")
    return "the masked max equals each unpadded sentence's max."


@exercise("01", 4)
def exercise_4(derivative: torch.Tensor) -> str:
    """``derivative`` (200,): f'(x) for f(x) = x sin x at torch.linspace(-6, 6, 200), from one ``backward``."""
    _tensor(derivative, "derivative", (200,))
    x = torch.linspace(-6, 6, 200)
    formula = torch.sin(x) + x * torch.cos(x)
    require(torch.allclose(derivative.detach(), formula, atol=1e-4),
            f"derivative is up to {(derivative.detach() - formula).abs().max():.3g} away from sin x + x cos x. "
            "Hint: f.sum().backward(), then read x.grad (x = torch.linspace(-6, 6, 200, requires_grad=True)).")
    return "autograd's derivative equals sin x + x cos x at all 200 points."


@exercise("01", 5)
def exercise_5(my_collate: Callable[[list[dict]], dict], clips: list[torch.Tensor]) -> str:
    """``my_collate``: [{"audio": (T_i,), "label": ()}] -> {"audio": (B, T_max), "audio_mask", "label": (B,)}."""
    from course_lib.data.collate import pad_collate

    require(callable(my_collate), "my_collate should be a function of a list of samples.")
    for samples in ([{"audio": clip, "label": torch.tensor(k)} for k, clip in enumerate(clips)],
                    [{"audio": torch.ones(n), "label": torch.tensor(n)} for n in (2, 5, 3)]):
        mine, theirs = my_collate(samples), pad_collate(samples)
        require(isinstance(mine, dict) and set(mine) == {"audio", "audio_mask", "label"},
                "my_collate should return a dict with the keys audio, audio_mask and label, got "
                f"{sorted(mine) if isinstance(mine, dict) else type(mine).__name__}.")
        for key in mine:
            require(isinstance(mine[key], torch.Tensor) and mine[key].shape == theirs[key].shape,
                    f"{key!r} should have shape {tuple(theirs[key].shape)}. Hint: pad_sequence(..., batch_first=True) "
                    "for the audio, torch.stack for the labels.")
            require(torch.equal(mine[key], theirs[key]),
                    f"{key!r} differs from pad_collate's. Hint: the mask is True at the real samples: "
                    "torch.arange(T_max) < lengths[:, None].")
    return "my_collate gives the same three tensors as pad_collate."
