"""The pieces notebook 06 builds inline agree with ``course_lib``.

The cells tagged ``inline`` define one head of scaled dot-product attention (checked against
``course_lib.models.CrossModalAttention``), FiLM (checked against ``course_lib.models.film.film``),
and the colour-slot relational model: its slots (against ``ColourSlots``) and its two hops, relation
module and position readout (against the library's ``colour_slots`` model).
"""
from __future__ import annotations

import pytest
import torch

from course_lib.data import sort_of_clevr as soc
from course_lib.experiments import sort_of_clevr_vqa as vqa
from course_lib.models import CrossModalAttention
from course_lib.models.film import film
from course_lib.models.relational import ColourSlots

from notebook_cells import inline_fixture

inline = inline_fixture("06_image_text_fusion.ipynb")


@pytest.fixture(scope="module")
def data():
    params = soc.default_params(fast=True) | {"num_train_images": 8, "num_val_images": 4, "num_test_images": 8}
    return vqa.load_data(arrays=soc.generate(params, seed=0))


def test_attend_matches_cross_modal_attention_and_weights_sum_to_one(inline):
    torch.manual_seed(0)
    attention = CrossModalAttention(query_dim=8, region_dim=5, hidden_dim=6)
    query, regions = torch.randn(3, 8), torch.randn(3, 7, 5)
    attended, weights = inline["attend"](query, regions, attention.to_query, attention.to_key, attention.to_value)
    expected, expected_weights = attention(query, regions)
    torch.testing.assert_close(attended, expected)
    torch.testing.assert_close(weights, expected_weights)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(3))


def test_attend_follows_the_matching_region(inline):
    identity = torch.nn.Identity()
    query = torch.tensor([[0.0, 10.0]])
    regions = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]])
    attended, weights = inline["attend"](query, regions, identity, identity, identity)
    assert weights.argmax().item() == 1 and weights[0, 1] > 0.99
    torch.testing.assert_close(attended, regions[:, 1], atol=0.01, rtol=0)


def test_film_matches_the_library_and_identity_parameters_change_nothing(inline):
    torch.manual_seed(0)
    x, gamma, beta = torch.randn(2, 4, 3, 3), torch.randn(2, 4), torch.randn(2, 4)
    torch.testing.assert_close(inline["film"](x, gamma, beta), film(x, gamma, beta))
    torch.testing.assert_close(inline["film"](x, torch.ones(2, 4), torch.zeros(2, 4)), x)
    switched_off = inline["film"](x, torch.zeros(2, 4), beta)
    torch.testing.assert_close(switched_off, beta[:, :, None, None].expand_as(x))


def test_colour_slots_match_the_library_on_drawn_scenes(inline, data):
    images = data.splits["test"]["image"][:8].float() / 255
    summaries, centres = inline["colour_slots"](images)
    library = ColourSlots(num_slots=6)(images)
    torch.testing.assert_close(summaries, library["objects"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(centres, library["positions"])
    areas = summaries[..., 0].exp() - 1  # 121 pixels for a square, 97 for a circle (the drawn footprints)
    assert set(areas.round().int().unique().tolist()) <= {121, 97}


def test_answer_matches_the_colour_slot_model_with_and_without_training_signal(inline, data):
    torch.manual_seed(0)
    model = vqa.build_model("colour_slots", len(data.vocab)).eval()
    test = data.splits["test"]
    images, questions = test["image"][:3], test["question"][:3]
    with torch.no_grad():
        summaries, centres = inline["colour_slots"](images.float() / 255)
        objects = model.image_encoder.embed(summaries).repeat_interleave(questions.shape[1], dim=0)
        positions = centres.repeat_interleave(questions.shape[1], dim=0)
        q = model.question_encoder(questions.flatten(0, 1))
        mine = inline["answer_logits"](model.reasoner.reasoner, objects, positions, q)
        theirs = model({"image": images, "question": questions})["answer"].flatten(0, 1)
    torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=1e-5)
    model.reasoner.reasoner.log_sharpness.data.fill_(5.0)  # a different hop 2: both must follow it
    with torch.no_grad():
        changed = inline["answer_logits"](model.reasoner.reasoner, objects, positions, q)
        theirs = model({"image": images, "question": questions})["answer"].flatten(0, 1)
    torch.testing.assert_close(changed, theirs, atol=1e-5, rtol=1e-5)
