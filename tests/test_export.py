"""Export: torch.export and ONNX Runtime give the eager model's outputs; the latency helper."""
import pytest
import torch

import course_lib.export
from course_lib.export import (
    ONNX_ATOL,
    check_onnx,
    export_onnx,
    export_program,
    median_latency,
    onnx_session,
    run_onnx,
)
from course_lib.models import (
    AlignedConcatFusion,
    ConcatFusion,
    CrossModalAttention,
    GatedFusion,
    ImageEncoder,
    LateFusion,
    LateTemporalFusion,
    LowRankFusion,
    MeanEmbedding,
    MLPEncoder,
    MultimodalModel,
    TemporalAttentionFusion,
    TensorFusion,
    make_fusion,
    make_head,
)
from course_lib.models.modality_dropout import ModalityDropoutModel


def tiny_model() -> ModalityDropoutModel:
    torch.manual_seed(0)
    encoders = {"image": ImageEncoder(out_dim=6, channels=(4,)), "audio": MLPEncoder(in_dim=10, out_dim=5, hidden=(8,))}
    fusion = make_fusion("concat", {"image": 6, "audio": 5}, out_dim=8)
    return ModalityDropoutModel(MultimodalModel(encoders, fusion, make_head(8, 3)), p=0.3).eval()


def inputs(batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {"image": torch.randn(batch, 1, 8, 8, generator=generator),
            "audio": torch.randn(batch, 10, generator=generator)}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = tiny_model()
    program = export_program(model, inputs(4))
    path = export_onnx(program, inputs(4), tmp_path_factory.mktemp("onnx") / "tiny.onnx")
    return model, program, path


def test_torch_export_matches_eager_at_other_batch_sizes(exported):
    model, program, _ = exported
    for batch in (2, 7):
        x = inputs(batch, seed=batch)
        with torch.no_grad():
            torch.testing.assert_close(program.module()(x), model(x))


def test_onnx_runtime_matches_eager_within_tolerance(exported):
    model, _, path = exported
    assert path.exists() and path.stat().st_size > 0
    session = onnx_session(path, threads=1)
    assert [node.name for node in session.get_inputs()] == ["image", "audio"]
    for batch in (3, 16):
        difference = check_onnx(model, session, inputs(batch, seed=batch))
        assert difference <= ONNX_ATOL


def test_check_onnx_fails_for_another_model(exported):
    _, _, path = exported
    other = tiny_model()
    with torch.no_grad():
        other.model.head.bias.add_(1.0)
    with pytest.raises(AssertionError):
        check_onnx(other, onnx_session(path), inputs(3))


def test_run_onnx_names_a_missing_input(exported):
    _, _, path = exported
    with pytest.raises(ValueError, match="missing input 'audio'"):
        run_onnx(onnx_session(path), {"image": inputs(2)["image"]})


def test_export_needs_a_batch_of_at_least_two():
    with pytest.raises(ValueError, match="batch size >= 2"):
        export_program(tiny_model(), inputs(1))


def test_median_latency_is_the_median(monkeypatch):
    durations = iter([1.0] * 2 + [0.0, 5.0, 0.0])  # two warmup calls, then three timed ones
    clock = {"now": 0.0}

    def fn() -> None:
        clock["now"] += next(durations)

    monkeypatch.setattr(course_lib.export.time, "perf_counter", lambda: clock["now"])
    assert median_latency(fn, repeats=3, warmup=2) == 0.0
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        median_latency(fn, repeats=0)


def test_export_with_a_modality_absent(tmp_path):
    model = tiny_model()
    image_only = {"image": inputs(4)["image"]}
    path = export_onnx(model, image_only, tmp_path / "image_only.onnx")
    session = onnx_session(path)
    assert [node.name for node in session.get_inputs()] == ["image"]
    assert check_onnx(model, session, {"image": inputs(9, seed=1)["image"]}) <= ONNX_ATOL


# ----------------------------------------------------------------- every fusion module exports

VECTORS = {"image": 6, "audio": 5}  # {modality: D_m} of (B, D_m) features
SEQUENCES = {"video": (4, 6), "audio": (9, 5)}  # {modality: (T_m, D_m)} of (B, T_m, D_m) sequences
FUSIONS = {
    "ConcatFusion": lambda: ConcatFusion(VECTORS, out_dim=8),
    "LateFusion": lambda: LateFusion(VECTORS, num_classes=3, learn_weights=True),
    "GatedFusion": lambda: GatedFusion(VECTORS, out_dim=8, hidden=4),
    "TensorFusion": lambda: TensorFusion(VECTORS, out_dim=8),
    "LowRankFusion": lambda: LowRankFusion(VECTORS, out_dim=8, rank=2),
    "LateTemporalFusion": lambda: LateTemporalFusion({m: d for m, (_, d) in SEQUENCES.items()}),
    "TemporalAttentionFusion": lambda: TemporalAttentionFusion({m: d for m, (_, d) in SEQUENCES.items()}, dim=8,
                                                               num_queries=2),
    "AlignedConcatFusion": lambda: AlignedConcatFusion({m: d for m, (_, d) in SEQUENCES.items()}),
}


def fusion_inputs(name: str, batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    if name in ("LateTemporalFusion", "TemporalAttentionFusion", "AlignedConcatFusion"):
        return {m: torch.randn(batch, t, d, generator=generator) for m, (t, d) in SEQUENCES.items()}
    return {m: torch.randn(batch, d, generator=generator) for m, d in VECTORS.items()}


@pytest.mark.parametrize("name", list(FUSIONS))
def test_every_fusion_module_exports_with_a_dynamic_batch(name):
    torch.manual_seed(0)
    fusion = FUSIONS[name]()
    program = export_program(fusion, fusion_inputs(name, 4))
    for batch in (2, 7):
        x = fusion_inputs(name, batch, seed=batch)
        with torch.no_grad():
            torch.testing.assert_close(program.module()(x), fusion(x))


@pytest.mark.parametrize("name", list(FUSIONS))
def test_every_fusion_module_compiles_without_a_graph_break(name):
    torch.manual_seed(0)
    fusion = FUSIONS[name]().eval()
    x = fusion_inputs(name, 3)
    compiled = torch.compile(fusion, fullgraph=True, backend="eager")  # fullgraph: a graph break is an error
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), fusion(x))


def test_masked_modules_compile_and_still_check_masks_in_eager_mode():
    torch.manual_seed(0)
    attend = CrossModalAttention(query_dim=4, region_dim=3, hidden_dim=8)
    query, regions = torch.randn(2, 4), torch.randn(2, 5, 3)
    mask = torch.tensor([[True, True, False, False, True], [True, False, False, False, False]])
    compiled = torch.compile(attend, fullgraph=True, backend="eager")
    with torch.no_grad():
        for got, want in zip(compiled(query, regions, mask), attend(query, regions, mask)):
            torch.testing.assert_close(got, want)
    with pytest.raises(ValueError, match="every row of mask needs at least one True region"):
        attend(query, regions, torch.zeros(2, 5, dtype=torch.bool))
    embed = MeanEmbedding(vocab_size=10, dim=4)
    ids = torch.tensor([[3, 4, 0], [9, 0, 0]])
    torch.testing.assert_close(torch.compile(embed, fullgraph=True, backend="eager")(ids), embed(ids))
    with pytest.raises(ValueError, match=r"text ids must lie in \[0, 10\).*from 3 to 10"):
        embed(torch.tensor([[3, 10]]))


def test_temporal_attention_fusion_exports_to_onnx(tmp_path):
    torch.manual_seed(0)
    fusion = FUSIONS["TemporalAttentionFusion"]()
    path = export_onnx(fusion, fusion_inputs("TemporalAttentionFusion", 4), tmp_path / "temporal.onnx")
    assert check_onnx(fusion, onnx_session(path), fusion_inputs("TemporalAttentionFusion", 5, seed=1)) <= ONNX_ATOL


# ----------------------------------------------------------------- export leaves the model's modes alone


def test_export_and_check_onnx_restore_each_modules_mode(exported):
    _, _, path = exported
    model = tiny_model().train()
    model.model.encoders["image"].eval()  # a frozen submodule: mixed modes must survive
    modes = {name: module.training for name, module in model.named_modules()}
    program = export_program(model, inputs(4))
    assert {name: module.training for name, module in model.named_modules()} == modes
    check_onnx(model, onnx_session(path), inputs(3))
    assert {name: module.training for name, module in model.named_modules()} == modes
    x = inputs(5, seed=3)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x))  # exported in eval mode all the same
