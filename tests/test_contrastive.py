"""The contrastive loss against a per-row computation, the two-tower model, and notebook 11's inline loss."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.models.contrastive import (
    PaletteSlots,
    PositionalTokenEncoder,
    SceneEncoder,
    TwoTowerModel,
    contrastive_loss,
    same_label_mask,
)

from notebook_cells import inline_fixture

inline = inline_fixture("11_contrastive_alignment_and_retrieval.ipynb")


def per_row_reference(first: torch.Tensor, second: torch.Tensor, scale: float,
                      positives: torch.Tensor | None = None) -> float:
    """Row by row, in plain Python: -log(exp(s_ii) / sum over allowed j of exp(s_ij)), both directions."""
    b = len(first)
    sim = (first @ second.T * scale).tolist()
    allowed = [[positives is None or i == j or not bool(positives[i, j]) for j in range(b)] for i in range(b)]
    rows = [-sim[i][i] + math.log(sum(math.exp(sim[i][j]) for j in range(b) if allowed[i][j])) for i in range(b)]
    cols = [-sim[j][j] + math.log(sum(math.exp(sim[i][j]) for i in range(b) if allowed[i][j])) for j in range(b)]
    return (sum(rows) / b + sum(cols) / b) / 2


def unit(b: int, d: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(b, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), dim=1)


@pytest.mark.parametrize("scale", [1.0, 14.3, 100.0])
def test_loss_matches_per_row_reference(scale: float) -> None:
    a, b = unit(7, 5, 0), unit(7, 5, 1)
    assert contrastive_loss(a, b, scale).item() == pytest.approx(per_row_reference(a, b, scale), rel=1e-9)


def test_masked_loss_matches_reference_and_drops_false_negatives() -> None:
    a, b = unit(8, 4, 2), unit(8, 4, 3)
    labels = torch.tensor([0, 1, 0, 2, 1, 0, 3, 2])
    positives = same_label_mask(labels)
    masked = contrastive_loss(a, b, 10.0, positives).item()
    assert masked == pytest.approx(per_row_reference(a, b, 10.0, positives), rel=1e-9)
    assert masked < contrastive_loss(a, b, 10.0).item()  # fewer terms in every denominator
    # With all labels distinct the mask changes nothing.
    assert contrastive_loss(a, b, 10.0, same_label_mask(torch.arange(8))).item() == pytest.approx(
        contrastive_loss(a, b, 10.0).item())


def test_loss_values_at_the_extremes() -> None:
    b = 6
    same = torch.eye(b, dtype=torch.float64)
    # Perfectly aligned orthogonal pairs: the loss falls towards 0 as the scale grows.
    assert contrastive_loss(same, same, 50.0).item() < 1e-10
    # Embeddings that carry no information: every candidate is as likely, loss = log(B).
    constant = F.normalize(torch.ones(b, 3, dtype=torch.float64), dim=1)
    assert contrastive_loss(constant, constant, 5.0).item() == pytest.approx(math.log(b))


def test_loss_is_symmetric_in_its_two_directions() -> None:
    a, b = unit(5, 3, 4), unit(5, 3, 5)
    assert contrastive_loss(a, b, 3.0).item() == pytest.approx(contrastive_loss(b, a, 3.0).item())


def test_bad_positives_are_refused() -> None:
    a = unit(4, 3, 6)
    with pytest.raises(ValueError, match="diagonal"):
        contrastive_loss(a, a, 1.0, torch.zeros(4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="second"):
        contrastive_loss(a, a[:3], 1.0)


class Linear(nn.Linear):
    """A tower for the tests: a linear layer with ``out_dim``."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__(in_dim, out_dim)
        self.out_dim = out_dim


def test_two_tower_model_outputs_unit_embeddings_and_learns_temperature() -> None:
    torch.manual_seed(0)
    model = TwoTowerModel({"image": Linear(6, 5), "audio": Linear(4, 5)}, embed_dim=3, temperature=0.1)
    assert model.temperature() == pytest.approx(0.1)
    inputs = {"image": torch.randn(8, 6), "audio": torch.randn(8, 4), "label": torch.arange(8)}
    outputs = model(inputs)
    assert set(outputs) == {"image", "audio"}
    assert torch.allclose(outputs["image"].norm(dim=1), torch.ones(8))
    assert torch.allclose(outputs["audio"], model.encode("audio", inputs["audio"]))
    expected = contrastive_loss(outputs["image"], outputs["audio"], 10.0)
    assert model.loss(outputs).item() == pytest.approx(expected.item(), rel=1e-5)
    model.loss(outputs).backward()
    assert model.logit_scale.grad is not None and model.logit_scale.grad.abs() > 0


def test_two_tower_model_learns_to_align() -> None:
    torch.manual_seed(0)
    x = torch.randn(32, 6)
    pairs = {"image": x, "audio": x @ torch.randn(6, 6)}  # the second modality is a linear function of the first
    model = TwoTowerModel({"image": Linear(6, 8), "audio": Linear(6, 8)}, embed_dim=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-2)
    before = model.loss(model(pairs)).item()
    for _ in range(60):
        loss = model.loss(model(pairs))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    outputs = model(pairs)
    assert loss.item() < before / 3
    top1 = (outputs["image"] @ outputs["audio"].T).argmax(dim=1)
    assert (top1 == torch.arange(32)).float().mean() > 0.9


def test_two_tower_model_errors_name_the_modality() -> None:
    model = TwoTowerModel({"image": Linear(6, 5), "audio": Linear(4, 5)}, embed_dim=3)
    with pytest.raises(ValueError, match="missing modality 'audio'"):
        model({"image": torch.randn(2, 6)})
    with pytest.raises(ValueError, match="same batch size"):
        model({"image": torch.randn(2, 6), "audio": torch.randn(3, 4)})
    with pytest.raises(ValueError, match="exactly two"):
        TwoTowerModel({"image": Linear(6, 5)})
    with pytest.raises(ValueError, match="temperature"):
        TwoTowerModel({"image": Linear(6, 5), "audio": Linear(4, 5)}, temperature=0.001)


def test_scene_encoder_keeps_where_things_are() -> None:
    torch.manual_seed(0)
    encoder = SceneEncoder(out_dim=16)
    images = torch.full((2, 3, 75, 75), 255, dtype=torch.uint8)
    images[0, :, 5:16, 5:16] = 0  # a dark square at the top left
    images[1, :, 60:71, 60:71] = 0  # the same square at the bottom right
    out = encoder(images)
    assert out.shape == (2, 16)
    assert not torch.allclose(out[0], out[1], atol=1e-4)
    assert torch.allclose(encoder(images.float() / 255), out, atol=1e-5)
    with pytest.raises(ValueError, match="SceneEncoder: image"):
        encoder(torch.zeros(2, 3, 64, 64))


def test_notebook_inline_loss_matches_library(inline: dict) -> None:
    a, b = unit(9, 4, 7).float(), unit(9, 4, 8).float()
    for scale in (1.0, 1 / 0.07):
        mine = inline["symmetric_info_nce"](a, b, torch.tensor(scale))
        assert mine.item() == pytest.approx(contrastive_loss(a, b, scale).item(), rel=1e-5)


def test_palette_slots_measure_each_colour() -> None:
    palette = torch.tensor([[255, 0, 0], [0, 0, 255], [0, 255, 0]], dtype=torch.uint8)
    images = torch.full((1, 3, 20, 20), 255, dtype=torch.uint8)
    images[0, 0, 2:5, 2:6] = 255  # red block: rows 2-4, columns 2-5 (12 pixels) at the top left
    images[0, 1:, 2:5, 2:6] = 0
    images[0, :2, 15:17, 14:16] = 0  # blue block: rows 15-16, columns 14-15 (4 pixels) at the bottom right
    slots = PaletteSlots(palette)(images)[0]
    assert slots.shape == (3, 5)
    assert slots[0, 0].item() == pytest.approx(math.log1p(12))
    assert slots[1, 0].item() == pytest.approx(math.log1p(4))
    # Centres in [-1, 1]: pixel column c has its centre at (c + 0.5) / 10 - 1.
    assert slots[0, 1:3].tolist() == pytest.approx([(3.5 + 0.5) / 10 - 1, (3.0 + 0.5) / 10 - 1])
    assert slots[1, 1:3].tolist() == pytest.approx([(14.5 + 0.5) / 10 - 1, (15.5 + 0.5) / 10 - 1])
    # Spread (variance in pixels^2): columns 2..5 have variance 1.25, rows 2..4 have 2/3.
    assert slots[0, 3:].tolist() == pytest.approx([math.log1p(1.25), math.log1p(2 / 3)], rel=1e-4)
    assert slots[2].tolist() == [0.0] * 5  # green is absent
    with pytest.raises(ValueError, match="uint8"):
        PaletteSlots(palette)(images.float())


def test_positional_token_encoder_knows_word_order() -> None:
    torch.manual_seed(0)
    encoder = PositionalTokenEncoder(vocab_size=5, max_len=4, out_dim=8)
    ids = torch.tensor([[2, 3, 0, 0], [3, 2, 0, 0]])  # the same words in the other order
    out = encoder(ids)
    assert out.shape == (2, 8) and not torch.allclose(out[0], out[1])
    assert torch.allclose(encoder(ids[:, :2]), out)  # shorter inputs are padded to max_len
    with pytest.raises(ValueError, match="max_len"):
        encoder(torch.ones(1, 5, dtype=torch.long))


def test_benchmark_table_is_rendered_from_its_json_with_per_seed_map() -> None:
    """The stored table is what ``contrastive_retrieval.py --render`` writes from the stored JSON, and
    notebook 11 shows that table (its headings one level down)."""
    import importlib
    import json
    import sys

    import nbformat

    from course_lib import config

    sys.path.insert(0, str(config.ROOT / "benchmarks"))
    benchmark = importlib.import_module("contrastive_retrieval")
    results = config.ROOT / "benchmarks" / "results"
    report = json.loads((results / "contrastive_retrieval.json").read_text())
    table = benchmark.markdown(report)
    assert table == (results / "contrastive_retrieval.md").read_text()
    plain = next(r for r in report["rows"] if r["pair"] == "image-speech" and r["method"] == "plain")
    assert benchmark.per_seed(plain["image_to_audio_mAP_per_seed"]) in table
    assert "image -> clip mAP per seed" in table and "image -> audio" not in table
    notebook = nbformat.read(config.ROOT / "notebooks" / "11_contrastive_alignment_and_retrieval.ipynb", as_version=4)
    body = "\n".join("#" + line if line.startswith("## ") else line for line in table.split("\n", 2)[2].split("\n"))
    assert any(body.strip() in cell.source for cell in notebook.cells if cell.cell_type == "markdown"), (
        "notebook 11's copy of the benchmark table differs from benchmarks/results/contrastive_retrieval.md")
