"""The Sort-of-CLEVR-Text VQA experiment of notebook 06: data tensors, models, training rows."""
import pytest
import torch

from course_lib.data import sort_of_clevr as soc
from course_lib.experiments import sort_of_clevr_vqa as vqa
from course_lib.models.coordinates import coordinate_grid
from course_lib.models.relational import SLOT_SUMMARY_DIM, ObjectSlots, RelationalReasoner, RelationModule
from course_lib.models.vqa_encoders import QuestionEncoder
from course_lib.models.vqa_reasoners import ObjectReasoner


@pytest.fixture(scope="module")
def data() -> vqa.VQAData:
    params = {**soc.default_params(fast=True), "num_train_images": 12, "num_val_images": 4, "num_test_images": 4}
    return vqa.load_data(arrays=soc.generate(params, seed=0))


def test_data_keeps_each_image_with_its_questions(data):
    train = data.splits["train"]
    assert train["image"].shape == (12, 3, 75, 75) and train["image"].dtype == torch.uint8
    assert train["question"].shape[:2] == (12, 20) and train["label"].shape == (12, 20)
    assert (train["qtype"][:, :10] == 0).all() and (train["qtype"][:, 10:] == 1).all()
    assert data.vocab.decode(train["question"][0, 0]).endswith(("?", "."))
    batch = next(iter(data.loader("test", batch_size=3)))
    assert set(batch) == {"image", "question", "question_code", *vqa.TARGETS} and batch["question"].shape[:2] == (3, 20)
    assert batch["question_code"].shape == (3, 20, vqa.CODE_DIM)


def test_object_targets_follow_the_palette_and_the_pixels():
    arrays = soc.generate({**soc.default_params(fast=True), "num_train_images": 3, "num_val_images": 1,
                           "num_test_images": 1}, seed=1)
    targets = vqa.object_targets(arrays)
    assert targets["object_present"].sum(dim=1).tolist() == [6] * 5  # every palette colour is in every scene
    image, slot = 2, int(arrays["object_color"][2, 4])
    x, y = arrays["object_x"][2, 4], arrays["object_y"][2, 4]
    expected = torch.tensor([(x + 0.5) / 37.5 - 1, (y + 0.5) / 37.5 - 1], dtype=torch.float32)
    torch.testing.assert_close(targets["object_position"][image, slot], expected)
    assert targets["object_shape"][image, slot] == arrays["object_shape"][2, 4]
    rgb = arrays["images"][image, y, x]  # the centre pixel has the object's colour
    assert (rgb == arrays["color_rgb"][slot]).all()


@pytest.mark.parametrize("method", list(vqa.METHODS))
def test_every_method_answers_every_question_and_learns_from_both_inputs(method, data):
    torch.manual_seed(0)
    model = vqa.build_model(method, len(data.vocab))
    batch = next(iter(data.loader("train", batch_size=2)))
    inputs = {key: batch[key] for key in ("image", "question", "question_code")}
    outputs = model(inputs)
    assert outputs["answer"].shape == (2, 20, vqa.NUM_ANSWERS)
    vqa.vqa_loss(outputs, batch).backward()
    for part in (model.image_encoder, model.question_encoder):
        parameters = list(part.parameters())
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in parameters) or not parameters
    if not list(model.question_encoder.parameters()):  # coded questions: nothing to learn, but they steer the answer
        blank = model({**inputs, "question_code": torch.zeros_like(inputs["question_code"])})["answer"]
        assert not torch.allclose(blank, outputs["answer"])


def test_multitask_model_has_auxiliary_heads_and_their_losses_count(data):
    torch.manual_seed(0)
    model = vqa.build_model("relational", len(data.vocab))
    batch = next(iter(data.loader("train", batch_size=2)))
    outputs = model({"image": batch["image"], "question": batch["question"]})
    assert outputs["positions"].shape == (2, 6, 2) and outputs["object_shape"].shape == (2, 6, 2)
    assert outputs["named_object"].shape == (2, 20, 6) and outputs["question_parse"].shape == (2, 20, 6 + 6)
    assert outputs["related_object"].shape == (2, 20, 2, 6)
    answers_only = vqa.vqa_loss({"answer": outputs["answer"]}, batch)
    assert vqa.vqa_loss(outputs, batch) > answers_only  # every auxiliary loss is positive
    inputs = {"image": batch["image"], "question": batch["question"]}
    plain = vqa.build_model("relational_answers_only", len(data.vocab))
    assert set(plain(inputs)) == {"answer"}  # answers alone
    ablation = vqa.build_model("relational_no_hop2_target", len(data.vocab))
    assert set(ablation(inputs)) == set(outputs) - {"related_object"}  # every auxiliary task but hop 2's
    with pytest.raises(ValueError, match="outputs must include 'answer'"):
        ObjectReasoner(vqa.NUM_ANSWERS, outputs=("answer", "hop3"))


def test_related_object_targets_agree_with_the_generators_closest_and_furthest_answers(data):
    train = data.splits["train"]
    wanted, candidates = vqa.related_object_targets(train["object_position"], train["object_present"],
                                                    train["question_color"])
    assert wanted.shape == (12, 20, 2) and candidates.shape == (12, 20, 6)
    assert (wanted != train["question_color"][..., None]).all()  # never the named object itself
    for head, subtype in enumerate(("closest", "furthest")):
        asked = train["subtype"] == soc.SUBTYPES.index(subtype)
        shape = train["object_shape"].gather(1, wanted[..., head])  # (N, Q) shape of the object picked
        answers = [soc.ANSWERS[i] for i in train["label"][asked]]
        assert asked.any() and answers == [soc.SHAPES[i] for i in shape[asked]]


def test_related_object_targets_skip_absent_colours_and_reject_an_absent_named_one():
    positions = torch.tensor([[[0.0, 0.0], [0.1, 0.0], [0.5, 0.0], [0.0, 0.9], [0.0, 0.0]]])
    present = torch.tensor([[True, False, True, True, False]])  # colours 1 (the nearest to 0) and 4 are absent
    wanted, candidates = vqa.related_object_targets(positions, present, named=torch.tensor([[0, 3]]))
    assert wanted.tolist() == [[[2, 3], [0, 2]]]
    assert candidates.tolist() == [[[False, False, True, True, False], [True, False, True, False, False]]]
    with pytest.raises(ValueError, match="names a colour that is not in its scene"):
        vqa.related_object_targets(positions, present, named=torch.tensor([[1]]))
    with pytest.raises(ValueError, match="at least two objects"):
        vqa.related_object_targets(positions, torch.tensor([[True, False, False, False, False]]), torch.tensor([[0]]))


def test_hop_two_loss_alone_trains_the_distance_heads(data):
    torch.manual_seed(0)
    model = vqa.build_model("relational", len(data.vocab))
    batch = next(iter(data.loader("train", batch_size=2)))
    inputs = {"image": batch["image"], "question": batch["question"]}
    reasoner = model.reasoner.reasoner
    optimizer = torch.optim.Adam([*reasoner.hop2.parameters(), reasoner.log_sharpness], lr=1e-2)

    def hop2_loss() -> torch.Tensor:  # vqa_loss of the hop-2 output minus that of the answers alone
        outputs = model(inputs)
        answers_only = {"answer": outputs["answer"].detach()}
        return vqa.vqa_loss({**answers_only, "related_object": outputs["related_object"]}, batch) - \
            vqa.vqa_loss(answers_only, batch)

    before = hop2_loss()
    for _ in range(20):
        optimizer.zero_grad()
        hop2_loss().backward()
        optimizer.step()
    assert hop2_loss() < 0.95 * before  # hop 2 alone, on the untrained slots' positions


def test_gru_question_encoder_reads_up_to_the_last_real_token():
    torch.manual_seed(0)
    encoder = QuestionEncoder(vocab_size=10, kind="gru")
    ids = torch.tensor([[3, 4, 5, 0, 0], [3, 4, 5, 6, 7]])
    torch.testing.assert_close(encoder(ids)[0], encoder(ids[:1, :3])[0])
    mean = QuestionEncoder(vocab_size=10, kind="mean")
    torch.testing.assert_close(mean(ids[:1]), mean(ids[:1, :3]))
    with pytest.raises(ValueError, match="kind must be"):
        QuestionEncoder(vocab_size=10, kind="lstm")


@pytest.mark.parametrize("height, width", [(1, 1), (5, 7), (75, 75)])
def test_coordinate_grid_follows_affine_grid_with_align_corners_false(height, width):
    reference = torch.nn.functional.affine_grid(torch.eye(2, 3)[None], [1, 1, height, width], align_corners=False)
    torch.testing.assert_close(coordinate_grid(height, width), reference.reshape(-1, 2))


def test_object_slots_find_the_centre_area_and_spread_of_a_uniform_blob():
    slots = ObjectSlots(num_slots=1, hidden_dim=3)
    with torch.no_grad():  # slot 0 takes red pixels, the background slot everything else
        slots.assign[0].weight.copy_(torch.eye(3)[:, :, None, None])
        slots.assign[0].bias.zero_()
        slots.assign[2].weight.copy_(torch.tensor([[40.0, -40.0, -40.0], [-40.0, 40.0, 40.0]])[:, :, None, None])
        slots.assign[2].bias.zero_()
    image = torch.ones(1, 3, 20, 20)
    image[0, 1:, 4:9, 10:15] = 0.0  # a red 5x5 square centred on pixel (row 6, column 12)
    out = slots(image)
    assert out["objects"].shape == (1, 1, SLOT_SUMMARY_DIM) and out["masks"].shape == (1, 2, 400)
    torch.testing.assert_close(out["positions"][0, 0], coordinate_grid(20, 20)[6 * 20 + 12], atol=1e-4, rtol=0)
    torch.testing.assert_close(out["masks"].sum(dim=1), torch.ones(1, 400))
    area, spread, colour = out["objects"][0, 0, 0], out["objects"][0, 0, 3:5], out["objects"][0, 0, 5:]
    torch.testing.assert_close(area, torch.log1p(torch.tensor(25.0)), atol=1e-3, rtol=0)
    torch.testing.assert_close(spread, torch.log1p(torch.tensor([2.0, 2.0])), atol=1e-3, rtol=0)  # var of 5 pixels: 2
    torch.testing.assert_close(colour, torch.tensor([1.0, 0.0, 0.0]), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match=r"images must have shape \(B, 3, H, W\)"):
        slots(image[:, :2])


def test_relation_module_sums_over_objects_and_checks_shapes():
    torch.manual_seed(0)
    relation = RelationModule(object_dim=3, question_dim=2, hidden_dim=5)
    anchor, objects, question = torch.randn(2, 3), torch.randn(2, 4, 3), torch.randn(2, 2)
    total = relation(anchor, objects, question)
    assert total.shape == (2, 5)
    torch.testing.assert_close(total[:, :], relation(anchor, objects[:, :2], question)
                               + relation(anchor, objects[:, 2:], question))
    with pytest.raises(ValueError, match=r"objects must have shape \(B, K, 3\)"):
        relation(anchor, objects[..., :2], question)


def test_model_errors_name_the_input(data):
    model = vqa.build_model("relational", len(data.vocab))
    batch = next(iter(data.loader("train", batch_size=2)))
    with pytest.raises(ValueError, match="missing modality 'question'"):
        model({"image": batch["image"]})
    with pytest.raises(ValueError, match=r"inputs\['question'\] must have shape \(2, Q, L\)"):
        model({"image": batch["image"], "question": batch["question"][0]})
    with pytest.raises(ValueError, match="unknown method 'rnn'"):
        vqa.build_model("rnn", 10)


def test_train_method_row_and_determinism_under_a_seed(data):
    first = vqa.train_method("cnn_mlp", data, seed=3, epochs=1, batch_size=4, device=torch.device("cpu"))
    second = vqa.train_method("cnn_mlp", data, seed=3, epochs=1, batch_size=4, device=torch.device("cpu"))
    row = first.row
    for key in ("method", "name", "accuracy", "non-relational", "relational", *soc.SUBTYPES,
                "macro_recall", "macro_f1", "parameters", "seconds", "epochs", "seed"):
        assert key in row, key
    test = data.splits["test"]
    with torch.no_grad():
        answers = first.model.eval()({"image": test["image"], "question": test["question"]})["answer"].argmax(-1)
    correct = answers == test["label"]
    assert row["accuracy"] == pytest.approx(correct.float().mean().item())
    assert row["relational"] == pytest.approx(correct[test["qtype"] == 1].float().mean().item())
    assert row["closest"] == pytest.approx(correct[test["subtype"] == soc.SUBTYPES.index("closest")].float().mean().item())
    assert row["parameters"] == sum(p.numel() for p in first.model.parameters()) and row["epochs"] == 1
    for key in ("accuracy", "relational", "macro_f1"):
        assert row[key] == second.row[key]
    for a, b in zip(first.model.parameters(), second.model.parameters()):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("head, expected", [(0, 2), (1, 3)])
def test_second_hop_heads_pick_the_nearest_and_the_farthest_other_object(head, expected):
    reasoner = RelationalReasoner(object_dim=4, question_dim=2, num_answers=3, hidden_dim=4)
    with torch.no_grad():
        for hop in (reasoner.hop1, reasoner.hop2):
            for layer in (hop.to_query, hop.to_key):
                layer.weight.zero_()
                layer.bias.zero_()
        reasoner.hop1.to_key.weight.copy_(torch.eye(4))
        reasoner.hop1.to_query.bias.copy_(torch.tensor([10.0, 0, 0, 0]))  # hop 1 finds object 0
    objects = 10 * torch.eye(4)[None]
    positions = torch.tensor([[[0.0, 0.0], [0.5, 0.0], [0.0, 0.2], [-0.9, 0.0]]])
    outputs = reasoner(objects, positions, torch.zeros(1, 2), return_attention=True)
    first, second = outputs["hop1_weights"], outputs["hop2_weights"]
    assert set(reasoner(objects, positions, torch.zeros(1, 2))) == {"answer", "named_object", "related_object"}
    assert outputs["answer"].shape == (1, 3) and outputs["named_object"].shape == (1, 4)
    assert first.argmax().item() == 0 and first[0, 0] > 0.99
    assert second.shape == (1, 2, 4) and second[0, :, 0].max() == 0  # hop 1's object is left out
    assert second[0, head].argmax().item() == expected and second[0, head, expected] > 0.95
