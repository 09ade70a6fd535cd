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
from course_lib.models import ImageEncoder, MLPEncoder, MultimodalModel, make_fusion, make_head
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
