"""Colour slots, the shared slot summary, the position readout, coded questions and batch-free normalization."""
import numpy as np
import pytest
import torch

from course_lib.data import sort_of_clevr as soc
from course_lib.experiments import sort_of_clevr_vqa as vqa
from course_lib.models.contrastive import PaletteSlots
from course_lib.models.coordinates import coordinate_grid
from course_lib.models.film import FiLMBlock
from course_lib.models.relational import (
    SLOT_SUMMARY_DIM,
    ColourSlots,
    ObjectSlots,
    RelationalReasoner,
    slot_summary,
)
from course_lib.models.vqa_encoders import CodedQuestionEncoder, ConvImageEncoder, conv_stem

NUM_COLOURS = len(soc.COLORS)


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    params = {**soc.default_params(fast=True), "num_train_images": 12, "num_val_images": 4, "num_test_images": 4}
    return soc.generate(params, seed=0)


@pytest.fixture(scope="module")
def data(arrays) -> vqa.VQAData:
    return vqa.load_data(arrays=arrays)


def as_batch(images: np.ndarray) -> torch.Tensor:
    """(N, S, S, 3) uint8 -> (N, 3, S, S) float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).float() / 255


def colour_code(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3) colours in [0, 1] -> one integer per 8-bit colour."""
    r, g, b = (rgb * 255).round().long().unbind(-1)
    return (r * 256 + g) * 256 + b


# ----------------------------------------------------------------------------- ColourSlots


def test_colour_slots_find_each_objects_pixels_area_and_centroid(arrays):
    images = arrays["images"][:3]
    out = ColourSlots(NUM_COLOURS)(as_batch(images))
    size = images.shape[1]
    assert out["objects"].shape == (3, NUM_COLOURS, SLOT_SUMMARY_DIM) and out["masks"].shape == (3, 7, size * size)
    torch.testing.assert_close(out["masks"].sum(dim=1), torch.ones(3, size * size))  # every pixel in one slot
    assert set(out["masks"].unique().tolist()) == {0.0, 1.0}
    rows, cols = np.mgrid[0:size, 0:size]
    for i, image in enumerate(images):
        white = (image == 255).all(axis=-1)
        assert out["masks"][i, -1].numpy().reshape(size, size).astype(bool).tolist() == white.tolist()
        found = set()
        for k in range(NUM_COLOURS):
            mask = out["masks"][i, k].numpy().reshape(size, size).astype(bool)
            colour = image[mask][0]
            found.add(tuple(colour.tolist()))
            assert (mask == (image == colour).all(axis=-1)).all()  # exactly the pixels of that colour
            area = mask.sum()
            centre = [(2 * cols[mask] + 1).mean() / size - 1, (2 * rows[mask] + 1).mean() / size - 1]
            assert out["objects"][i, k, 0].item() == pytest.approx(np.log1p(area), rel=1e-5)
            assert out["positions"][i, k].tolist() == pytest.approx(centre, abs=1e-5)
            assert out["objects"][i, k, 1:3].tolist() == pytest.approx(centre, abs=1e-5)
            assert out["objects"][i, k, 3:5].tolist() == pytest.approx(
                np.log1p([cols[mask].var(), rows[mask].var()]), rel=1e-4, abs=1e-5)
            assert out["objects"][i, k, 5:].tolist() == pytest.approx((colour / 255).tolist(), abs=1e-6)
        palette = {tuple(arrays["color_rgb"][c].tolist()) for c in arrays["object_color"][i]}
        assert found == palette  # one slot per object of the scene


def test_colour_slots_centre_is_the_drawn_centre_for_a_square():
    x, y = np.array([12, 50]), np.array([20, 60])
    image = soc.draw_scene(np.array([[255, 0, 0], [0, 0, 255]], dtype=np.uint8), np.array([0, 0]), x, y, 75, 5)
    out = ColourSlots(2)(as_batch(image[None]))
    # slots follow the colour value: blue (0, 0, 255) before red (255, 0, 0)
    expected = torch.tensor([[(2 * 50 + 1) / 75 - 1, (2 * 60 + 1) / 75 - 1], [(2 * 12 + 1) / 75 - 1, (2 * 20 + 1) / 75 - 1]])
    torch.testing.assert_close(out["positions"][0], expected)
    torch.testing.assert_close(out["objects"][0, :, 0], torch.log1p(torch.tensor([121.0, 121.0])))


def test_colour_slots_are_ordered_by_colour_and_do_not_depend_on_the_batch(arrays):
    images = as_batch(arrays["images"][:5])
    slots = ColourSlots(NUM_COLOURS)
    together = slots(images)
    codes = colour_code(together["objects"][..., 5:])
    assert (codes[:, 1:] > codes[:, :-1]).all()
    for i in (0, 3):
        alone = slots(images[i : i + 1])
        for key in ("objects", "positions", "masks"):
            torch.testing.assert_close(alone[key][0], together[key][i])
    reordered = slots(images.flip(0))
    torch.testing.assert_close(reordered["objects"], together["objects"].flip(0))


def test_colour_slots_background_is_the_most_common_colour_even_if_not_white():
    image = torch.zeros(1, 3, 6, 6)  # black background
    image[0, :, 0, 0] = 1.0  # one white pixel
    image[0, 0, 3:5, 3:5] = 1.0  # a red 2x2 block
    out = ColourSlots(2)(image)
    assert out["masks"][0, -1].sum() == 36 - 5 and out["masks"][0, -1, 0] == 0
    assert out["objects"][0, :, 0].tolist() == pytest.approx(np.log1p([4.0, 1.0]).tolist())  # red, then white


def test_colour_slots_reject_images_with_another_number_of_colours_naming_the_image(arrays):
    images = as_batch(arrays["images"][:3])
    noisy = images.clone()
    noisy[1, :, 0, 0] = torch.tensor([10, 20, 30]) / 255  # one pixel of a new colour
    with pytest.raises(ValueError, match=r"image 1 has 8 distinct colours, expected num_slots \+ 1 = 7"):
        ColourSlots(NUM_COLOURS)(noisy)
    blank = images.clone()
    blank[2] = 1.0
    with pytest.raises(ValueError, match=r"image 2 has 1 distinct colours"):
        ColourSlots(NUM_COLOURS)(blank)
    with pytest.raises(ValueError, match="image 0 has 7 distinct colours, expected num_slots \\+ 1 = 6"):
        ColourSlots(NUM_COLOURS - 1)(images)
    with pytest.raises(ValueError, match="num_slots must be at least 1"):
        ColourSlots(0)


def test_colour_slots_have_no_parameters_and_pass_no_gradient_through_the_masks(arrays):
    slots = ColourSlots(NUM_COLOURS)
    assert list(slots.parameters()) == [] and list(slots.buffers()) == []
    images = as_batch(arrays["images"][:2]).requires_grad_()
    slots(images)["objects"][..., 5:].sum().backward()  # the mean colour depends on the pixels
    assert images.grad is not None and images.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- slot_summary


def test_slot_summary_of_a_hard_mask_by_hand():
    h, w = 4, 6
    images = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    pixels = [(0, 1), (0, 2), (2, 5), (3, 1)]  # (row, column)
    mask = torch.zeros(1, 2, h * w)  # slot 1 empty
    for row, col in pixels:
        mask[0, 0, row * w + col] = 1.0
    out = slot_summary(mask, images)
    assert out["objects"].shape == (1, 2, SLOT_SUMMARY_DIM) and out["positions"].shape == (1, 2, 2)
    rows = torch.tensor([float(r) for r, _ in pixels])
    cols = torch.tensor([float(c) for _, c in pixels])
    centre = torch.stack([((2 * cols + 1) / w - 1).mean(), ((2 * rows + 1) / h - 1).mean()])
    torch.testing.assert_close(centre, coordinate_grid(h, w)[[r * w + c for r, c in pixels]].mean(dim=0))
    spread = torch.stack([cols.var(unbiased=False), rows.var(unbiased=False)])  # pixels^2
    colour = torch.stack([images[0, :, r, c] for r, c in pixels]).mean(dim=0)
    expected = torch.cat([torch.log1p(torch.tensor([4.0])), centre, torch.log1p(spread), colour])
    torch.testing.assert_close(out["objects"][0, 0], expected)
    torch.testing.assert_close(out["positions"][0, 0], centre)
    assert out["objects"][0, 1].tolist() == [0.0] * SLOT_SUMMARY_DIM  # an empty slot summarizes to zeros


def test_object_slots_summary_is_slot_summary_of_their_masks():
    torch.manual_seed(0)
    slots = ObjectSlots(num_slots=3)
    images = torch.rand(2, 3, 8, 8)
    out = slots(images)
    expected = slot_summary(out["masks"][:, :-1], images)
    torch.testing.assert_close(out["objects"], expected["objects"])
    torch.testing.assert_close(out["positions"], expected["positions"])


def test_palette_slots_are_colour_slots_reordered_by_palette(arrays):
    images = arrays["images"][:4]
    palette = torch.from_numpy(arrays["color_rgb"])
    expected = PaletteSlots(palette)(torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))))
    out = ColourSlots(NUM_COLOURS)(as_batch(images))["objects"]
    order = colour_code(out[..., 5:])  # (B, K): each slot's colour
    palette_code = colour_code(palette.float() / 255)  # (C,)
    index = (order[:, None, :] == palette_code[None, :, None]).float().argmax(dim=-1)  # (B, C): slot of colour c
    assert ((order[:, None, :] == palette_code[None, :, None]).sum(dim=-1) == 1).all()
    reordered = out.gather(1, index[..., None].expand(-1, -1, SLOT_SUMMARY_DIM))
    torch.testing.assert_close(expected, reordered[..., :5])


# ----------------------------------------------------------------------------- position readout


def reasoner(position_readout: int = 0, **kwargs) -> RelationalReasoner:
    torch.manual_seed(0)
    return RelationalReasoner(object_dim=5, question_dim=7, num_answers=3, hidden_dim=8,
                              position_readout=position_readout, **kwargs)


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("r", [1, 4])
def test_position_readout_adds_its_projection_and_head_columns_only(r):
    default = RelationalReasoner(object_dim=5, question_dim=7, num_answers=3, hidden_dim=8)
    plain = reasoner(0)
    assert count(plain) == count(default) and not hasattr(plain, "readout")
    assert [name for name, _ in plain.named_parameters()] == [name for name, _ in default.named_parameters()]
    wide = reasoner(r)
    assert count(wide.readout) == 7 * 2 * r + 2 * r
    assert wide.head[0].in_features == plain.head[0].in_features + r
    assert count(wide) - count(plain) == 7 * 2 * r + 2 * r + r * wide.head[0].out_features
    with pytest.raises(ValueError, match="position_readout must be >= 0, got -1"):
        reasoner(-1)


def test_position_readout_output_shapes_and_gradient():
    model = reasoner(3)
    objects, positions, question = torch.randn(4, 6, 5), torch.rand(4, 6, 2) * 2 - 1, torch.randn(4, 7)
    out = model(objects, positions, question, return_attention=True)
    assert out["answer"].shape == (4, 3) and out["named_object"].shape == (4, 6)
    assert out["related_object"].shape == (4, 2, 6) and out["hop2_weights"].shape == (4, 2, 6)
    out["answer"].square().sum().backward()
    assert model.readout.weight.grad is not None and model.readout.weight.grad.abs().sum() > 0
    assert model.readout.bias.grad.abs().sum() > 0


def test_position_readout_feeds_the_question_chosen_projections_of_hop_ones_position():
    """Hand-set weights: the head's last input column is ``U(q) . p1`` and alone decides the answer."""
    model = RelationalReasoner(object_dim=2, question_dim=2, num_answers=2, hidden_dim=4, position_readout=1)
    with torch.no_grad():
        model.readout.weight.copy_(torch.tensor([[-1.0, 1.0], [0.0, 0.0]]))  # x direction: -1 (q = e0) or +1 (q = e1)
        model.readout.bias.zero_()
        first, second = model.head[0], model.head[2]
        first.weight.zero_()
        first.bias.zero_()
        first.weight[0, -1], first.weight[1, -1] = 1.0, -1.0  # relu(s), relu(-s)
        second.weight.copy_(torch.zeros_like(second.weight))
        second.weight[0, 0], second.weight[0, 1] = 1.0, -1.0  # answer 0 when s > 0
        second.weight[1, 0], second.weight[1, 1] = -1.0, 1.0
        second.bias.zero_()
    x = torch.tensor([0.5, -0.3, 0.7, -0.9])
    positions = torch.stack([x, torch.zeros(4)], dim=-1)[:, None].expand(4, 2, 2)  # both objects at (x, 0)
    side = torch.tensor([1, 1, 0, 0])
    out = model(torch.eye(2).expand(4, 2, 2), positions, torch.nn.functional.one_hot(side, 2).float())
    s = torch.where(side == 1, x, -x)
    torch.testing.assert_close(out["answer"], torch.stack([s, -s], dim=-1))


def xor_task(n: int, generator: torch.Generator):
    """Two objects on the same side; the answer is XOR(the question's side bit, p1.x > 0)."""
    side = torch.randint(0, 2, (n,), generator=generator)
    sign = torch.randint(0, 2, (n,), generator=generator) * 2 - 1
    x = sign[:, None] * (0.2 + 0.8 * torch.rand(n, 2, generator=generator))
    y = torch.rand(n, 2, generator=generator) * 2 - 1
    objects = torch.eye(2).expand(n, 2, 2)
    label = ((side == 1) ^ (sign > 0)).long()
    return objects, torch.stack([x, y], dim=-1), torch.nn.functional.one_hot(side, 2).float(), label


def test_position_readout_learns_the_side_xor():
    torch.manual_seed(0)
    model = RelationalReasoner(object_dim=2, question_dim=2, num_answers=2, hidden_dim=8, position_readout=4)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    *inputs, label = xor_task(512, torch.Generator().manual_seed(100))
    with torch.no_grad():
        before = (model(*inputs)["answer"].argmax(-1) == label).float().mean().item()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is the fastest
    try:
        for _ in range(100):
            *batch, target = xor_task(64, generator)
            loss = torch.nn.functional.cross_entropy(model(*batch)["answer"], target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        after = (model(*inputs)["answer"].argmax(-1) == label).float().mean().item()
    assert before < 0.8 and after > 0.95


# ----------------------------------------------------------------------------- coded questions


def test_question_codes_one_hot_colour_subtype_and_side(arrays):
    codes = vqa.question_codes(arrays)
    m = len(arrays["question_text"])
    assert codes.shape == (m, vqa.CODE_DIM) and codes.dtype == torch.float32
    assert vqa.CODE_DIM == NUM_COLOURS + len(soc.SUBTYPES) + 1
    assert set(codes.unique().tolist()) == {0.0, 1.0}
    assert codes[:, :NUM_COLOURS].argmax(1).tolist() == arrays["question_color"].tolist()
    assert (codes[:, :NUM_COLOURS].sum(1) == 1).all()
    subtype_part = codes[:, NUM_COLOURS:NUM_COLOURS + len(soc.SUBTYPES)]
    assert subtype_part.argmax(1).tolist() == arrays["subtype"].tolist() and (subtype_part.sum(1) == 1).all()
    side = codes[:, -1]
    horizontal, vertical = soc.SUBTYPES.index("horizontal"), soc.SUBTYPES.index("vertical")
    for q, (text, subtype) in enumerate(zip(arrays["question_text"].tolist(), arrays["subtype"].tolist())):
        words = text.rstrip("?.").split()
        if subtype == horizontal:
            expected = "right" in words
            assert expected or "left" in words
        elif subtype == vertical:
            expected = "bottom" in words or "lower" in words
            assert expected or "top" in words or "upper" in words
        else:
            expected = False
        assert side[q].item() == float(expected), text
    asked = np.isin(arrays["subtype"], [horizontal, vertical])
    assert 0 < side.sum() < asked.sum()  # both sides occur


def test_question_codes_side_bit_agrees_with_the_answers_and_the_scene(arrays):
    """For a yes/no question, "yes" means the named object is in the half the side bit names."""
    codes = vqa.question_codes(arrays)
    size = arrays["images"].shape[1]
    for subtype, coordinate in (("horizontal", "object_x"), ("vertical", "object_y")):
        for q in np.flatnonzero(arrays["subtype"] == soc.SUBTYPES.index(subtype)):
            image = arrays["question_image"][q]
            obj = list(arrays["object_color"][image]).index(arrays["question_color"][q])
            second_half = 2 * arrays[coordinate][image, obj] + 1 > size
            yes = soc.ANSWERS[arrays["answer"][q]] == "yes"
            assert bool(codes[q, -1]) == (second_half == yes)


def test_coded_question_encoder_passes_codes_through():
    encoder = CodedQuestionEncoder(vqa.CODE_DIM)
    codes = torch.randint(0, 2, (3, vqa.CODE_DIM))
    out = encoder(codes)
    assert out.dtype == torch.float32 and torch.equal(out, codes.float())
    assert encoder.out_dim == vqa.CODE_DIM and list(encoder.parameters()) == []
    with pytest.raises(ValueError, match=rf"question must have shape \(B, {vqa.CODE_DIM}\)"):
        encoder(torch.zeros(3, vqa.CODE_DIM + 1))


# ----------------------------------------------------------------------------- normalization


def test_unknown_norm_is_rejected_by_name():
    with pytest.raises(ValueError, match="conv_stem: norm must be 'batch' or 'group', got 'layer'"):
        conv_stem(2, norm="layer")
    with pytest.raises(ValueError, match="FiLMBlock: norm must be 'batch' or 'group', got 'instance'"):
        FiLMBlock(8, 4, norm="instance")
    with pytest.raises(ValueError, match="norm must be 'batch' or 'group', got 'none'"):
        ConvImageEncoder(2, norm="none")


@pytest.mark.parametrize("train", [True, False])
def test_group_norm_encoder_answers_each_image_on_its_own_and_batch_norm_does_not(train, arrays):
    images = as_batch(arrays["images"][:4])
    torch.manual_seed(0)
    group = ConvImageEncoder(3).train(train)
    torch.manual_seed(0)
    batch = ConvImageEncoder(3, norm="batch").train(train)
    assert any(isinstance(m, torch.nn.GroupNorm) for m in group.modules())
    with torch.no_grad():
        for encoder, independent in ((group, True), (batch, False)):
            together, alone = encoder(images)["maps"][0], encoder(images[:1])["maps"][0]
            assert torch.allclose(together, alone, atol=1e-5) == independent


@pytest.mark.parametrize("norm", ["group", "batch"])
def test_film_block_keeps_the_shape_and_group_norm_is_per_example(norm):
    torch.manual_seed(0)
    block = FiLMBlock(6, 4, norm=norm).eval()
    x, cond = torch.randn(3, 6, 5, 5), torch.randn(3, 4)
    with torch.no_grad():
        out = block(x, cond)
        assert out.shape == x.shape
        if norm == "group":
            torch.testing.assert_close(block(x[1:2], cond[1:2])[0], out[1])


# ----------------------------------------------------------------------------- methods


@pytest.mark.parametrize("method", ["colour_slots", "colour_slots_no_readout", "cnn_mlp_coded"])
def test_new_methods_answer_every_question(method, data):
    torch.manual_seed(0)
    model = vqa.build_model(method, len(data.vocab))
    batch = next(iter(data.loader("train", batch_size=2)))
    with torch.no_grad():
        outputs = model({key: batch[key] for key in ("image", "question", "question_code")})
    assert outputs["answer"].shape == (2, 20, vqa.NUM_ANSWERS) and set(outputs) == {"answer"}
    if method.startswith("colour_slots"):
        readout = model.reasoner.reasoner.position_readout
        assert readout == (vqa.POSITION_READOUT if method == "colour_slots" else 0)
        assert list(model.image_encoder.slots.parameters()) == []


def test_colour_slot_methods_differ_by_the_readout_alone(data):
    with_readout = vqa.build_model("colour_slots", len(data.vocab))
    without = vqa.build_model("colour_slots_no_readout", len(data.vocab))
    r, question_dim = vqa.POSITION_READOUT, with_readout.reasoner.reasoner.question_dim
    head_width = with_readout.reasoner.reasoner.head[0].out_features
    assert count(with_readout) - count(without) == question_dim * 2 * r + 2 * r + r * head_width


def test_training_signal_covers_every_method():
    assert set(vqa.TRAINING_SIGNAL) == set(vqa.METHODS)
    answers_only = {m for m in vqa.METHODS
                    if m not in vqa.RELATIONAL_OUTPUTS or tuple(vqa.RELATIONAL_OUTPUTS[m]) == ("answer",)}
    assert {m for m, signal in vqa.TRAINING_SIGNAL.items() if signal == "answers"} == answers_only
    assert {"colour_slots", "colour_slots_no_readout", "cnn_mlp_coded"} <= answers_only
    assert set(vqa.RELATIONAL_OUTPUTS) <= set(vqa.METHODS) and set(vqa.EPOCHS) == set(vqa.METHODS)
