"""The dataset cache: reuse, regeneration on change, damage detection, atomic writes."""
import json

import numpy as np
import pytest

from course_lib.data.cache import (
    ARRAYS_FILE,
    MANIFEST_FILE,
    CacheError,
    cache_dir,
    cached_arrays,
    rebuild_command,
)

NAME = "toy"


class CountingGenerator:
    """A deterministic toy generator that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, params: dict, seed: int) -> dict[str, np.ndarray]:
        self.calls += 1
        rng = np.random.default_rng(seed)
        return {
            "x": rng.normal(size=(params["n"], 3)).astype(np.float32),
            "label": np.arange(params["n"], dtype=np.int64),
            "name": np.array([f"item {i}" for i in range(params["n"])]),
        }


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    return tmp_path


def load(generate, params=None, seed=0, version="1", fast=True, regenerate=False):
    return cached_arrays(NAME, params=params or {"n": 5}, seed=seed, version=version,
                         generate=generate, fast=fast, regenerate=regenerate)


def test_first_call_generates_then_the_cache_is_reused(data_dir):
    generate = CountingGenerator()
    first = load(generate)
    second = load(generate)
    assert generate.calls == 1
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert second["name"].dtype.kind == "U" and second["name"][3] == "item 3"
    folder = data_dir / NAME / "fast"
    assert cache_dir(NAME, True) == folder
    assert sorted(p.name for p in folder.iterdir()) == [ARRAYS_FILE, MANIFEST_FILE]
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    assert manifest["name"] == NAME and manifest["params"] == {"n": 5} and manifest["seed"] == 0
    assert manifest["fast"] is True and manifest["version"] == "1"
    assert len(manifest["files"][ARRAYS_FILE]) == 64
    assert manifest["generation_seconds"] >= 0 and manifest["created_utc"]


def test_fast_and_full_have_separate_folders(data_dir):
    generate = CountingGenerator()
    load(generate, fast=True)
    load(generate, fast=False)
    assert generate.calls == 2
    assert (data_dir / NAME / "full" / ARRAYS_FILE).is_file()


@pytest.mark.parametrize("change", [{"params": {"n": 7}}, {"seed": 1}, {"version": "2"}])
def test_changed_params_seed_or_version_regenerates(change):
    generate = CountingGenerator()
    load(generate)
    arrays = load(generate, **change)
    assert generate.calls == 2
    assert len(arrays["x"]) == change.get("params", {"n": 5})["n"]
    load(generate, **change)
    assert generate.calls == 2


def test_regenerate_true_rebuilds_a_valid_cache():
    generate = CountingGenerator()
    load(generate)
    load(generate, regenerate=True)
    assert generate.calls == 2


def flip_bytes(folder):
    path = folder / ARRAYS_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def delete_arrays(folder):
    (folder / ARRAYS_FILE).unlink()


def corrupt_manifest(folder):
    (folder / MANIFEST_FILE).write_text("{not json")


def drop_manifest_key(folder):
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    del manifest["files"]
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))


def delete_manifest(folder):
    (folder / MANIFEST_FILE).unlink()


@pytest.mark.parametrize("damage", [flip_bytes, delete_arrays, corrupt_manifest, drop_manifest_key,
                                    delete_manifest])
def test_damaged_cache_raises_cache_error_naming_the_rebuild_command(damage, data_dir):
    generate = CountingGenerator()
    expected = load(generate)
    damage(data_dir / NAME / "fast")
    with pytest.raises(CacheError) as error:
        load(generate)
    assert "python -m data_scripts.make_datasets --dataset toy --fast --regenerate" in str(error.value)
    assert str(data_dir / NAME / "fast") in str(error.value)
    assert generate.calls == 1
    rebuilt = load(generate, regenerate=True)
    np.testing.assert_array_equal(rebuilt["x"], expected["x"])
    np.testing.assert_array_equal(load(generate)["x"], expected["x"])


def test_rebuild_command_names_the_mode():
    assert rebuild_command("av_digits", fast=False) == (
        "python -m data_scripts.make_datasets --dataset av_digits --regenerate"
    )


@pytest.mark.parametrize("interruption", [RuntimeError("generator failed"), KeyboardInterrupt()])
def test_interrupted_generation_leaves_nothing_behind(interruption, data_dir):
    def failing(params, seed):
        raise interruption

    with pytest.raises(type(interruption)):
        load(failing)
    assert list((data_dir / NAME).iterdir()) == []


def test_failed_regeneration_keeps_the_previous_cache(data_dir):
    generate = CountingGenerator()
    expected = load(generate)

    def failing(params, seed):
        raise RuntimeError("generator failed")

    with pytest.raises(RuntimeError):
        load(failing, params={"n": 9})
    assert [p.name for p in (data_dir / NAME).iterdir()] == ["fast"]
    np.testing.assert_array_equal(load(generate)["x"], expected["x"])
    assert generate.calls == 1


def test_object_arrays_are_refused_because_they_need_pickle(data_dir):
    with pytest.raises(TypeError, match="dtype object"):
        load(lambda params, seed: {"bad": np.array([{"a": 1}], dtype=object)})
    assert list((data_dir / NAME).iterdir()) == []


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_bad_seed_is_refused(seed):
    with pytest.raises(ValueError, match="seed"):
        load(CountingGenerator(), seed=seed)


def test_params_must_be_json_serializable():
    with pytest.raises(TypeError, match="JSON"):
        load(CountingGenerator(), params={"n": 5, "f": object()})
