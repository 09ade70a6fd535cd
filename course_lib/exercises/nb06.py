"""Checks of notebook 06's exercises (image-text fusion: visual question answering).

Each check recomputes its reference from the notebook's trained models and data, so it holds in fast
and full mode alike.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from course_lib.data import sort_of_clevr as soc
from course_lib.data.text import Vocabulary, tokenize
from course_lib.exercises.core import NotYet, exercise, model_device, require
from course_lib.models import count_parameters

#: a subtype "breaks" without hop 2's distance bias when its test accuracy falls by more than this
BREAK_DROP = 0.10



def _subtype_values(answer: object, what: str) -> dict[str, float]:
    """The answer as {subtype: number} with every subtype of ``soc.SUBTYPES``."""
    require(isinstance(answer, Mapping), f"{what} should be a dict keyed by subtype name, got {type(answer).__name__}.")
    missing = [name for name in soc.SUBTYPES if name not in answer]
    require(not missing, f"{what} lacks the subtypes {missing}. Hint: loop over soc.SUBTYPES.")
    try:
        return {name: float(answer[name]) for name in soc.SUBTYPES}
    except (TypeError, ValueError):
        raise NotYet(f"{what} should map each subtype to one number.") from None


@exercise("06", 1)
def exercise_1(sentence: str, answer: str, model: nn.Module, image: torch.Tensor, vocab: Vocabulary) -> str:
    """``answer``: the model's answer (a word of ``soc.ANSWERS``) to ``sentence`` about ``image`` (3, H, W)."""
    require(isinstance(sentence, str) and sentence.strip() != "", "sentence should be your question, a string.")
    ids = vocab.encode(sentence)
    unknown = [word for word, i in zip(tokenize(sentence), ids) if i == vocab.unk_id]
    require(not unknown, f"these words are not in the vocabulary: {unknown}; the model reads them as <unk>. "
                         "Hint: `word in data.vocab` tells whether the model knows a word.")
    require(answer in soc.ANSWERS, f"answer should be one of {list(soc.ANSWERS)}, got {answer!r}. "
                                   "Hint: soc.ANSWERS[logits.argmax()] turns the answer logits into a word.")
    device = model_device(model)
    with torch.no_grad():
        logits = model.eval()({"image": image[None].to(device),
                               "question": torch.tensor(ids)[None, None].to(device)})["answer"]  # (1, 1, answers)
    expected = soc.ANSWERS[int(logits[0, 0].argmax())]
    require(answer == expected, f"the model answers {expected!r} to this sentence, not {answer!r}. "
                                "Hint: the question tensor is (1 image, 1 question, L tokens), the image test image 0.")
    return f"the model answers {expected!r}."


@exercise("06", 2)
def exercise_2(mean_entropy: Mapping[str, float], most_focused: str, model: nn.Module,
               test: Mapping[str, torch.Tensor]) -> str:
    """``mean_entropy``: {subtype: mean entropy in nats of the attention weights of its test questions}."""
    answer = _subtype_values(mean_entropy, "mean_entropy")
    device, entropies = model_device(model), []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(test["image"]), 100):  # batches of 100 images: batch statistics as in the notebook
            weights = model({"image": test["image"][start:start + 100].to(device),
                             "question": test["question"][start:start + 100].to(device)},
                            return_attention=True)["attention"].flatten(0, 1).cpu()  # (100 * Q, R)
            entropies.append(-(weights * weights.clamp_min(1e-12).log()).sum(dim=1))
    entropy, subtype = torch.cat(entropies), test["subtype"].flatten()
    expected = {name: float(entropy[subtype == k].mean()) for k, name in enumerate(soc.SUBTYPES)}
    largest = math.log(weights.shape[1])
    for name in soc.SUBTYPES:
        require(0 <= answer[name] <= largest + 1e-6,
                f"the entropy of {name} is {answer[name]:.3f}, outside [0, ln R = {largest:.2f}]. "
                "Hint: -sum(a * log a) over the regions of each question, with the natural log.")
        require(abs(answer[name] - expected[name]) <= 1e-3,
                f"the mean entropy of {name} is {expected[name]:.3f} nats, not {answer[name]:.3f}. Hint: one "
                "entropy per question (sum over the regions), then the mean over the test questions of the subtype; "
                "run the model on 100 images at a time, as section 4 does.")
    lowest = min(expected, key=expected.get)
    require(most_focused == lowest, f"most_focused should be the subtype with the lowest mean entropy, {lowest!r}.")
    return f"{lowest} questions look at the fewest regions ({expected[lowest]:.2f} nats)."


@exercise("06", 3)
def exercise_3(without_bias: Mapping[str, float], broken: object, model: nn.Module, data: object,
               trained_row: Mapping[str, float]) -> str:
    """``without_bias``: test accuracy per subtype with ``log_sharpness`` at -20; ``broken``: the subtypes
    whose accuracy falls by more than ``BREAK_DROP`` from ``trained_row``."""
    from course_lib.experiments.sort_of_clevr_vqa import split_scores

    answer = _subtype_values(without_bias, "without_bias")
    sharpness = model.reasoner.reasoner.log_sharpness
    require(float(sharpness.detach()) > -19, "the model's log_sharpness is still -20. Hint: save its value before you "
                                    "change it and copy it back afterwards (try/finally).")
    saved = sharpness.data.clone()
    try:
        sharpness.data.fill_(-20.0)
        expected = split_scores(model, data, "test", model_device(model))
    finally:
        sharpness.data.copy_(saved)
    for name in soc.SUBTYPES:
        require(abs(answer[name] - expected[name]) <= 1e-6,
                f"without the bias the {name} accuracy is {expected[name]:.3f}, not {answer[name]:.3f}. "
                "Hint: fill log_sharpness with -20 and score the test split with vqa.split_scores.")
    falls = {name for name in soc.SUBTYPES if trained_row[name] - expected[name] > BREAK_DROP}
    require(isinstance(broken, (list, tuple, set)) and set(broken) == falls,
            f"broken should hold the subtypes that lose more than {BREAK_DROP:.2f} of accuracy without the bias; "
            f"got {broken!r}. Hint: compare results['relational'].row[name] with without_bias[name].")
    return f"the subtypes that break: {sorted(falls) or 'none'}."


@exercise("06", 4)
def exercise_4(parameters: Mapping[str, int], ms_per_batch: Mapping[str, float], vocab_size: int) -> str:
    """``parameters`` and ``ms_per_batch``: {"mean": ..., "gru": ...} for the CNN + MLP model."""
    from course_lib.experiments.sort_of_clevr_vqa import build_model

    for name, answer in (("parameters", parameters), ("ms_per_batch", ms_per_batch)):
        require(isinstance(answer, Mapping) and set(answer) == {"mean", "gru"},
                f"{name} should be a dict with the keys 'mean' and 'gru'.")
    expected = {kind: count_parameters(build_model("cnn_mlp", vocab_size, question_encoder=kind))
                for kind in ("mean", "gru")}
    for kind, count in expected.items():
        require(parameters[kind] == count, f"the CNN + MLP model with the {kind} encoder has {count:,} parameters, "
                                           f"not {parameters[kind]}. Hint: count_parameters(model).")
        require(np.isfinite(ms_per_batch[kind]) and ms_per_batch[kind] > 0,
                f"ms_per_batch[{kind!r}] should be a positive time in milliseconds.")
    return f"the GRU adds {expected['gru'] - expected['mean']:,} parameters."
