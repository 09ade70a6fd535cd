"""Checks of notebook 11's exercises: Recall@K by hand, one voice against all, the temperature's gradient."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from course_lib.exercises.core import close, exercise, require


@exercise("11", 1)
def exercise_1(by_hand: float, similarity: torch.Tensor, partner_only: torch.Tensor) -> str:
    """``by_hand``: image -> clip Recall@5 against the partner only, counted with a Python loop."""
    from course_lib.retrieval import recall_at_k

    recall = {k: recall_at_k(similarity, partner_only, k) for k in (4, 5, 6)}
    for k in (4, 6):
        if recall[k] != recall[5] and abs(float(by_hand) - recall[k]) < 1e-6:
            close(by_hand, recall[5], "by_hand", 1e-6, f"that is Recall@{k}: keep the 5 most similar clips.")
    close(by_hand, recall[5], "by_hand", 1e-6,
          "a hit means the image's own clip (the partner, the same index, not any clip of its digit) among the "
          "5 most similar clips; divide the hits by the number of images.")
    return f"Recall@5 = {recall[5]:.4f}, the same as recall_at_k."


@exercise("11", 2)
def exercise_2(single: Sequence[float], model: nn.Module, test: Mapping[str, torch.Tensor],
               prompts: Mapping[str, torch.Tensor]) -> str:
    """``single``: the zero-shot test accuracy with the prompts of each test voice alone, in voice order."""
    from course_lib.experiments.contrastive import zero_shot_logits

    device = next(model.parameters()).device
    voices = sorted(set(prompts["voice"].tolist()))
    require(len(single) == len(voices), f"single should hold one accuracy per test voice ({len(voices)}), "
                                        f"got {len(single)}.")
    accuracy = []
    for v in voices:
        keep = prompts["voice"] == v
        logits = zero_shot_logits(model, test["image"], {"audio": prompts["audio"][keep],
                                                         "label": prompts["label"][keep]}, device)
        accuracy.append((logits.argmax(1) == test["label"]).float().mean().item())
    for v, (got, expected) in enumerate(zip(single, accuracy, strict=True)):
        close(got, expected, f"single[{v}]", 1e-6,
              "keep the prompts whose prompts['voice'] equals the voice's index, and pass only their audio and "
              "labels to con.zero_shot_logits.")
    ensemble = (zero_shot_logits(model, test["image"], prompts, device).argmax(1) == test["label"]).float().mean()
    return (f"single voices {min(accuracy):.3f} to {max(accuracy):.3f} (mean {np.mean(accuracy):.3f}); "
            f"all voices {ensemble:.3f}.")


@exercise("11", 3)
def exercise_3(loss: torch.Tensor | float, slope: float, images: torch.Tensor, clips: torch.Tensor,
               temperature: float) -> str:
    """``loss``: the symmetric InfoNCE of all test pairs at the learned ``temperature``; ``slope``: its derivative
    with respect to log(1/T)."""
    from course_lib.models.contrastive import contrastive_loss

    log_scale = torch.tensor(np.log(1 / temperature), requires_grad=True)
    reference = contrastive_loss(images.detach(), clips.detach(), log_scale.exp())
    reference.backward()
    loss = loss.detach() if isinstance(loss, torch.Tensor) else loss
    close(loss, reference.item(), "loss", 1e-4,
          "contrastive_loss(images, clips, 1 / T) on all the test pairs at once, T = plain.model.temperature().")
    require(np.isfinite(float(slope)), "slope should be a finite number.")
    close(slope, log_scale.grad.item(), "slope", 1e-3,
          "differentiate with respect to log(1/T): make logit_scale = torch.tensor(log(1/T), requires_grad=True), "
          "pass logit_scale.exp() to the loss, call backward and read logit_scale.grad.")
    side = "higher" if slope > 0 else "lower"
    return f"d loss / d log(1/T) = {float(slope):+.3f}: a {side} temperature would lower this loss."
