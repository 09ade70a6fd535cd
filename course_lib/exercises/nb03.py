"""Checks of notebook 03's exercises: learned late-fusion weights, MSE on one-hot targets, parameter counts,
the product rule, image noise against the gate, and a gate at full speed."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.exercises.core import close, exercise, model_device, require


def _gated_outputs(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """A gated model in eval mode on {"image", "audio"} -> (logits (B, C), image weight (B,)), on the CPU."""
    device = model_device(model)
    with torch.no_grad():
        logits, gate = model.eval()({m: batch[m].to(device) for m in ("image", "audio")}, return_weights=True)
    return logits.cpu(), gate[:, 0].cpu()


@exercise("03", 1)
def exercise_1(learned: nn.Module) -> str:
    """``learned``: a trained ``MultimodalModel`` whose fusion is ``LateFusion(..., learn_weights=True)``."""
    from course_lib.models import LateFusion

    fusion = getattr(learned, "fusion", None)
    require(isinstance(fusion, LateFusion),
            f"learned.fusion should be a LateFusion, got {type(fusion).__name__}. Hint: MultimodalModel(encoders, "
            "LateFusion(dims, num_classes=10, learn_weights=True), nn.Identity()).")
    require(isinstance(fusion.log_weights, nn.Parameter),
            "the late-fusion weights are fixed. Hint: build LateFusion with learn_weights=True.")
    weights = fusion.modality_weights()
    close(sum(weights.values()), 1.0, "the sum of the weights", 1e-5)
    require(all(w > 0 for w in weights.values()), f"every weight should be positive, got {weights}.")
    require(abs(weights["image"] - 0.5) > 1e-5,
            "the weights are still 1/2 each: train the model (fit with its optimizer over all its parameters).")
    return "weights " + ", ".join(f"{m} {w:.3f}" for m, w in weights.items()) + ": positive, summing to one."


@exercise("03", 2)
def exercise_2(mse_on_one_hot: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], mse_history: Mapping,
               ce_history: Mapping) -> str:
    """``mse_on_one_hot(logits (B, 10), targets (B,))`` -> the batch's mean of the summed squared errors between
    the softmax and the one-hot target; ``mse_history``: the ``fit`` history of the image model trained with it."""
    confident = torch.tensor([[20.0] + [0.0] * 9])
    close(mse_on_one_hot(confident, torch.tensor([0])), 0.0, "the loss of a confident right answer", 1e-4,
          "compare torch.softmax(logits, dim=1) with F.one_hot(targets, 10).float().")
    close(mse_on_one_hot(confident, torch.tensor([1])), 2.0, "the loss of a confident wrong answer", 1e-4,
          "sum the squared errors over the 10 classes (reduction='sum'), then divide by the batch size.")
    logits, targets = torch.randn(8, 10, generator=torch.Generator().manual_seed(0)), torch.arange(8)
    reference = (torch.softmax(logits, 1) - F.one_hot(targets, 10).float()).pow(2).sum(1).mean()
    close(mse_on_one_hot(logits, targets), reference.item(), "the loss of 8 random logits", 1e-5,
          "average over the batch, not over the batch times the classes.")
    epochs = len(ce_history["val_score"])
    require(len(mse_history.get("val_score", [])) == epochs,
            f"mse_history should hold {epochs} epochs of val_score, like the cross-entropy model's. Hint: "
            "fit(...).history, with epochs=EPOCHS.")
    require(mse_history["train_loss"] != ce_history["train_loss"],
            "mse_history has the cross-entropy model's losses: pass loss_fn=mse_on_one_hot to fit.")
    return "0 when right and sure, 2 when wrong and sure; both curves cover the same epochs."


@exercise("03", 3)
def exercise_3(counts: Mapping[int, Sequence[int]]) -> str:
    """``counts`` = {modalities: (TFN parameters, LMF parameters)} for 2 and 3 modalities of 32 numbers,
    ``out_dim=64``, LMF ``rank=4``."""
    from course_lib.models import LowRankFusion, TensorFusion, count_parameters

    require(isinstance(counts, Mapping) and set(counts) == {2, 3},
            "counts should be a dict {2: (TFN, LMF), 3: (TFN, LMF)}.")
    for n in (2, 3):
        dims = {f"m{i}": 32 for i in range(n)}
        reference = (count_parameters(TensorFusion(dims, out_dim=64)),
                     count_parameters(LowRankFusion(dims, out_dim=64, rank=4)))
        require(len(counts[n]) == 2 and tuple(int(c) for c in counts[n]) == reference,
                f"{n} modalities: you have {tuple(counts[n])}, count_parameters gives {reference}. Hint: each "
                "embedding gets a constant 1 (33 numbers); TFN has one weight per entry of the outer product and "
                "output plus 64 biases; LMF has rank x (33 per modality) x 64 factor weights, rank weights and 64 "
                "biases.")
    growth = counts[3][0] / counts[2][0], counts[3][1] - counts[2][1]
    return f"TFN grows {growth[0]:.0f} times with the third modality, LMF by {growth[1]:,} parameters."


@exercise("03", 4)
def exercise_4(product: nn.Module, difference: float, test_batch: Mapping[str, torch.Tensor]) -> str:
    """``product``: ``DecisionFusion`` of the two unimodal models with ``rule="product"``; ``difference``: the
    largest difference between its probabilities and the normalised geometric mean by hand."""
    from course_lib.models.decision_fusion import DecisionFusion

    require(isinstance(product, DecisionFusion) and product.rule == "product",
            'product should be DecisionFusion({...}, rule="product").')
    with torch.no_grad():
        p = {m: torch.softmax(model.eval()(test_batch), 1) for m, model in product.models.items()}
        geometric = (p["image"] * p["audio"]).sqrt()
        geometric = geometric / geometric.sum(1, keepdim=True)
        gap = (product.eval()(test_batch).exp() - geometric).abs().max().item()
    require(gap < 1e-4, f"the fusion is {gap:.1e} away from the normalised geometric mean: use equal weights.")
    require(0 <= float(difference) < 1e-4,
            f"difference is {float(difference):.1e}, but the fusion is {gap:.1e} from the geometric mean. Hint: "
            "compare product(test_batch).exp() with (p_image * p_audio).sqrt(), normalised so that each row sums "
            "to one.")
    return f"the product rule is the normalised geometric mean (difference {gap:.1e})."


@exercise("03", 5)
def exercise_5(image_noise_weights: Sequence[float], image_noise_accuracy: Sequence[float], gated_model: nn.Module,
               test: Mapping[str, torch.Tensor]) -> str:
    """Per pixel-noise std (0, 0.2, 0.4, 0.8, 1.6): the gated model's mean image weight and test accuracy."""
    for name, values in (("image_noise_weights", image_noise_weights), ("image_noise_accuracy", image_noise_accuracy)):
        require(len(values) == 5 and all(0 <= v <= 1 for v in values),
                f"{name} should hold 5 numbers in [0, 1], one per noise level, got {list(values)}.")
    logits, image_weight = _gated_outputs(gated_model, test)
    close(image_noise_weights[0], image_weight.mean().item(), "the image weight at std 0", 1e-5,
          "with std 0 the images are unchanged: use the gated model of section 7 on the test split.")
    close(image_noise_accuracy[0], (logits.argmax(1) == test["label"]).float().mean().item(),
          "the accuracy at std 0", 1e-6, "compare logits.argmax(1) with test['label'].")
    require(abs(image_noise_weights[-1] - image_noise_weights[0]) > 1e-3,
            "the gate weight did not change with the noise: add std * torch.randn(...) to the images, then clamp.")
    return f"the image weight goes from {image_noise_weights[0]:.2f} to {image_noise_weights[-1]:.2f}."


@exercise("03", 6)
def exercise_6(fast_gate, slow_gate, test_batch: Mapping[str, torch.Tensor]) -> str:
    """``fast_gate``: ``avf.train_method("gated", ..., gate_lr_scale=1.0)``; ``slow_gate``: section 7's result."""
    require(hasattr(fast_gate, "model") and hasattr(fast_gate, "row"),
            "fast_gate should be what avf.train_method returns (its .model and .row).")
    _, fast = _gated_outputs(fast_gate.model, test_batch)
    _, slow = _gated_outputs(slow_gate.model, test_batch)
    require((fast - slow).abs().max() > 1e-3,
            "the two gates give the same weights: did you pass gate_lr_scale=1.0 to train_method?")
    require(0 <= fast_gate.row["accuracy"] <= 1, "fast_gate.row['accuracy'] should be a test accuracy in [0, 1].")
    return (f"image weight at full speed: mean {fast.mean():.2f}, {(fast > 0.9).float().mean():.0%} of the samples "
            f"above 0.9; test accuracy {fast_gate.row['accuracy']:.3f}.")
