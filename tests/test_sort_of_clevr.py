"""Tests of the Sort-of-CLEVR-Text generator and dataset.

Answers are recomputed here from the object table with plain Python, reading the colour
and the side that each question names from its text.
"""
import hashlib
import json
import math
import re

import numpy as np
import pytest
import torch
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from torch.utils.data import DataLoader

from course_lib import data
from course_lib.data import sort_of_clevr as soc
from course_lib.data.collate import pad_collate
from course_lib.data.text import Vocabulary, tokenize


def small_params(**changes):
    params = soc.default_params(fast=True)
    params.update(num_train_images=60, num_val_images=20, num_test_images=20)
    params.update(changes)
    return params


@pytest.fixture(scope="module")
def arrays():
    return soc.generate(small_params(), seed=0)


def read_question(text: str) -> tuple[str, str | None]:
    """The colour a question asks about and the side it names (None when it names none)."""
    words = tokenize(text.replace("grey", "gray"))
    colors = [w for w in words if w in soc.COLORS]
    sides = [w for w in words if w in ("left", "right", "top", "bottom", "upper", "lower")]
    assert len(colors) == 1 and len(sides) <= 1, text
    return colors[0], sides[0] if sides else None


def expected_answer(text: str, subtype: str, table: list[dict], image_size: int) -> str:
    """The answer to one question, from the image's objects (dicts of color, shape, x, y)."""
    color, side = read_question(text)
    me = next(o for o in table if o["color"] == color)
    others = [o for o in table if o is not me]
    middle = image_size / 2  # a pixel column c covers [c, c + 1): its centre is c + 0.5
    if subtype == "shape":
        return me["shape"]
    if subtype == "horizontal":
        is_left = me["x"] + 0.5 < middle
        return "yes" if is_left == (side == "left") else "no"
    if subtype == "vertical":
        is_top = me["y"] + 0.5 < middle
        return "yes" if is_top == (side in ("top", "upper")) else "no"
    distance = {id(o): math.dist((me["x"], me["y"]), (o["x"], o["y"])) for o in others}
    if subtype == "closest":
        return min(others, key=lambda o: distance[id(o)])["shape"]
    if subtype == "furthest":
        return max(others, key=lambda o: distance[id(o)])["shape"]
    return str(sum(o["shape"] == me["shape"] for o in table))


def object_table(arrays, image: int) -> list[dict]:
    return [
        {
            "color": str(arrays["color_names"][arrays["object_color"][image, k]]),
            "shape": str(arrays["shape_names"][arrays["object_shape"][image, k]]),
            "x": int(arrays["object_x"][image, k]),
            "y": int(arrays["object_y"][image, k]),
        }
        for k in range(arrays["object_color"].shape[1])
    ]


def test_arrays_have_the_documented_shapes_and_dtypes(arrays):
    n, q = 100, 2000
    assert arrays["images"].shape == (n, 75, 75, 3) and arrays["images"].dtype == np.uint8
    for key in ("object_color", "object_shape", "object_x", "object_y"):
        assert arrays[key].shape == (n, 6) and arrays[key].dtype == np.int64
    for key in ("question_image", "question_color", "question_template", "answer", "qtype", "subtype"):
        assert arrays[key].shape == (q,) and arrays[key].dtype == np.int64, key
    assert arrays["question_text"].shape == (q,) and arrays["question_text"].dtype.kind == "U"
    assert list(arrays["answer_names"]) == list(soc.ANSWERS)
    assert list(arrays["subtype_names"]) == list(soc.SUBTYPES)
    assert arrays["answer"].max() < len(soc.ANSWERS)
    assert all(arrays[key].dtype != object for key in arrays)


def test_every_image_has_ten_non_relational_and_ten_relational_questions(arrays):
    counts = np.zeros((100, 2), dtype=int)
    np.add.at(counts, (arrays["question_image"], arrays["qtype"]), 1)
    assert (counts == 10).all()
    assert np.array_equal(arrays["qtype"], (arrays["subtype"] >= 3).astype(np.int64))


def test_each_object_of_an_image_has_its_own_colour(arrays):
    colors = np.sort(arrays["object_color"], axis=1)
    assert (np.diff(colors, axis=1) > 0).all()


@pytest.mark.parametrize("subtype", soc.SUBTYPES)
def test_answers_agree_with_the_object_table(arrays, subtype):
    rows = np.flatnonzero(arrays["subtype"] == soc.SUBTYPES.index(subtype))
    assert len(rows) > 100
    for row in rows:
        image = int(arrays["question_image"][row])
        text = str(arrays["question_text"][row])
        expected = expected_answer(text, subtype, object_table(arrays, image), 75)
        assert soc.ANSWERS[arrays["answer"][row]] == expected, text
        assert arrays["color_names"][arrays["question_color"][row]] == read_question(text)[0]


KEYWORDS = {
    "shape": ("shape", "square"),
    "horizontal": ("left", "right"),
    "vertical": ("top", "bottom", "upper", "lower"),
    "closest": ("closest", "nearest"),
    "furthest": ("furthest", "farthest", "distant"),
    "count": ("many", "number", "count"),
}


def test_question_text_states_its_subtype(arrays):
    for text, subtype in zip(arrays["question_text"], arrays["subtype"]):
        words = set(tokenize(str(text)))
        name = soc.SUBTYPES[subtype]
        assert words & set(KEYWORDS[name]), text
        for other, keywords in KEYWORDS.items():
            if other != name and other != "shape":
                assert not words & set(keywords), f"{text!r} ({name}) reads like {other}"


def test_wording_varies(arrays):
    for subtype in range(len(soc.SUBTYPES)):
        used = set(arrays["question_template"][arrays["subtype"] == subtype])
        assert used == set(np.flatnonzero(arrays["template_subtype"] == subtype))
    words = set(tokenize(" ".join(arrays["question_text"].tolist())))
    assert {"object", "thing", "item", "gray", "grey", "image", "picture", "scene"} <= words


def test_same_seed_gives_identical_bytes_and_another_seed_differs(arrays):
    again = soc.generate(small_params(), seed=0)
    assert again.keys() == arrays.keys()
    for key in arrays:
        assert arrays[key].dtype == again[key].dtype and arrays[key].tobytes() == again[key].tobytes(), key
    other = soc.generate(small_params(), seed=1)
    assert not np.array_equal(other["images"], arrays["images"])
    assert not np.array_equal(other["question_text"], arrays["question_text"])


def test_objects_lie_inside_the_image_and_do_not_overlap(arrays):
    s, gap = 5, small_params()["min_gap"]
    x, y = arrays["object_x"], arrays["object_y"]
    assert x.min() - s >= 0 and y.min() - s >= 0 and x.max() + s < 75 and y.max() + s < 75
    for image in range(len(x)):
        for i in range(6):
            for j in range(i + 1, 6):
                chebyshev = max(abs(x[image, i] - x[image, j]), abs(y[image, i] - y[image, j]))
                assert chebyshev >= 2 * s + 1 + gap


def test_pixels_show_each_object_whole_in_its_colour(arrays):
    """Counting each colour's pixels finds a full square (11x11) or a full disk: nothing is covered."""
    s = 5
    disk = sum(dx * dx + dy * dy <= s * (s + 1) for dx in range(-s, s + 1) for dy in range(-s, s + 1))
    area = {"square": (2 * s + 1) ** 2, "circle": disk}
    for image in range(10):
        pixels = arrays["images"][image].reshape(-1, 3)
        assert ((pixels == 255).all(axis=1) | np.isin(pixels, arrays["color_rgb"]).all(axis=1)).all()
        for obj in object_table(arrays, image):
            rgb = soc.COLORS[obj["color"]]
            assert (pixels == rgb).all(axis=1).sum() == area[obj["shape"]]
            assert tuple(arrays["images"][image, obj["y"], obj["x"]]) == rgb
            corner = tuple(arrays["images"][image, obj["y"] - s, obj["x"] - s])
            assert (corner == rgb) == (obj["shape"] == "square")


def test_relational_answers_never_hang_on_a_near_tie(arrays):
    margin = small_params()["distance_margin"]
    for image in range(len(arrays["images"])):
        table = object_table(arrays, image)
        for me in table:
            others = sorted((math.dist((me["x"], me["y"]), (o["x"], o["y"])), o["shape"]) for o in table if o is not me)
            nearest, furthest = others[0], others[-1]
            assert all(d - nearest[0] >= margin for d, shape in others if shape != nearest[1])
            assert all(furthest[0] - d >= margin for d, shape in others if shape != furthest[1])


def test_objects_avoid_the_middle_lines(arrays):
    margin = small_params()["midline_margin"]
    for key in ("object_x", "object_y"):
        assert (np.abs(arrays[key] + 0.5 - 75 / 2) >= margin).all()


def test_answers_are_balanced_within_each_subtype():
    big = soc.generate(small_params(num_train_images=300), seed=3)
    for subtype, name in enumerate(soc.SUBTYPES):
        answers = big["answer"][big["subtype"] == subtype]
        share = np.bincount(answers, minlength=len(soc.ANSWERS)) / len(answers)
        if name == "count":  # 1 + Binomial(5, 1/2): 1/32, 5/32, 10/32, 10/32, 5/32, 1/32
            expected = np.array([1, 5, 10, 10, 5, 1]) / 32
            assert np.abs(share[4:] - expected).max() < 0.06
        else:
            pair = ["yes", "no"] if name in ("horizontal", "vertical") else ["square", "circle"]
            first = share[soc.ANSWERS.index(pair[0])]
            assert 0.42 < first < 0.58 and share[soc.ANSWERS.index(pair[1])] == pytest.approx(1 - first)


def test_question_alone_does_not_beat_the_answer_prior():
    """A bag-of-words classifier sees only the question: it must not beat the per-subtype majority."""
    big = soc.generate(small_params(num_train_images=600, num_val_images=0, num_test_images=200), seed=4)
    is_train = big["image_split"][big["question_image"]] == 0
    for subtype, name in enumerate(soc.SUBTYPES):
        train = is_train & (big["subtype"] == subtype)
        test = ~is_train & (big["subtype"] == subtype)
        bow = CountVectorizer(tokenizer=tokenize, token_pattern=None, lowercase=False)
        model = LogisticRegression(max_iter=200).fit(bow.fit_transform(big["question_text"][train]), big["answer"][train])
        predicted = model.predict(bow.transform(big["question_text"][test]))
        prior = np.bincount(big["answer"][train]).argmax()
        prior_accuracy = (big["answer"][test] == prior).mean()
        question_accuracy = (predicted == big["answer"][test]).mean()
        assert question_accuracy <= prior_accuracy + 0.03, name


@pytest.mark.parametrize(
    "change, message",
    [
        ({"num_objects": 7}, "num_objects must be between 2 and the number of colors"),
        ({"colors": ["red", "green", "blue"]}, "num_objects must be between 2 and the number of colors"),
        ({"colors": ["red", "purple"], "num_objects": 2}, "colors must be distinct names"),
        ({"image_size": 14}, "image_size=14 is too small"),
        ({"num_train_images": -1}, "num_train_images must be a non-negative int"),
        ({"object_size": 0}, "object_size must be a positive int"),
        ({"distance_margin": -1.0}, "distance_margin must be >= 0"),
    ],
)
def test_bad_parameters_raise_clear_errors(change, message):
    with pytest.raises(ValueError, match=message):
        soc.generate(small_params(**change), seed=0)


def test_an_image_too_small_for_its_objects_fails_clearly():
    with pytest.raises(ValueError, match="could not place 6 objects"):
        soc.generate(small_params(image_size=30, num_train_images=2, num_val_images=0, num_test_images=0), seed=0)


def test_missing_parameter_is_named():
    params = small_params()
    del params["min_gap"]
    with pytest.raises(ValueError, match="missing \\['min_gap'\\]"):
        soc.generate(params, seed=0)


def test_fewer_objects_than_colours_uses_a_subset_of_colours():
    few = soc.generate(small_params(num_objects=3, num_train_images=30, num_val_images=0, num_test_images=0), seed=0)
    assert few["object_color"].shape == (30, 3)
    assert len(np.unique(few["object_color"])) == 6
    assert set(soc.ANSWERS[a] for a in few["answer"][few["subtype"] == 5]) <= {"1", "2", "3"}


def test_splits_are_disjoint_by_image(arrays):
    splits = {name: soc.SortOfClevrText(name, arrays=arrays) for name in soc.SPLITS}
    images = {name: set(ds.question_image.tolist()) for name, ds in splits.items()}
    assert images["train"].isdisjoint(images["val"]) and images["train"].isdisjoint(images["test"])
    assert images["val"].isdisjoint(images["test"])
    assert len(images["train"]) == 60 and len(images["val"]) == 20 and len(images["test"]) == 20
    assert sum(len(ds) for ds in splits.values()) == len(arrays["answer"])
    train_bytes = {arrays["images"][i].tobytes() for i in images["train"]}
    assert not any(arrays["images"][i].tobytes() in train_bytes for i in images["val"] | images["test"])


def test_dataset_items(arrays):
    ds = soc.SortOfClevrText("val", arrays=arrays)
    item = ds[5]
    assert set(item) == {"image", "question", "question_text", "label", "qtype", "subtype"}
    assert item["image"].shape == (3, 75, 75) and item["image"].dtype == torch.float32
    assert 0.0 <= item["image"].min() and item["image"].max() == 1.0
    row = np.flatnonzero(arrays["image_split"][arrays["question_image"]] == 1)[5]
    image = arrays["images"][arrays["question_image"][row]]
    assert torch.equal(item["image"], torch.from_numpy(image).permute(2, 0, 1).float() / 255)
    assert item["question_text"] == arrays["question_text"][row]
    assert item["question"].dtype == torch.int64 and item["question"].ndim == 1
    assert ds.vocab.decode(item["question"].tolist()) == " ".join(tokenize(item["question_text"]))
    for key, array in (("label", "answer"), ("qtype", "qtype"), ("subtype", "subtype")):
        assert item[key].dtype == torch.int64 and item[key].ndim == 0 and item[key] == arrays[array][row]
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_vocabulary_comes_from_the_training_split_only(arrays):
    val = soc.SortOfClevrText("val", arrays=arrays)
    train_texts = arrays["question_text"][arrays["image_split"][arrays["question_image"]] == 0]
    assert val.vocab.id_to_token == Vocabulary.build(train_texts.tolist()).id_to_token
    given = Vocabulary.build(["what shape is the red object ?"])
    ds = soc.SortOfClevrText("test", arrays=arrays, vocab=given)
    assert ds.vocab is given
    assert given.unk_id in ds[0]["question"].tolist()


def test_transforms_apply_per_key_and_unknown_keys_fail(arrays):
    ds = soc.SortOfClevrText("train", arrays=arrays, transforms={"image": lambda x: x * 2, "question": lambda q: q.flip(0)})
    plain = soc.SortOfClevrText("train", arrays=arrays)
    assert torch.equal(ds[0]["image"], plain[0]["image"] * 2)
    assert torch.equal(ds[0]["question"], plain[0]["question"].flip(0))
    with pytest.raises(ValueError, match="audio"):
        soc.SortOfClevrText("train", arrays=arrays, transforms={"audio": lambda x: x})
    with pytest.raises(ValueError, match="unknown split"):
        soc.SortOfClevrText("training", arrays=arrays)


def test_batches_with_pad_collate(arrays):
    ds = soc.SortOfClevrText("train", arrays=arrays)
    loader = DataLoader(ds, batch_size=16, shuffle=False, collate_fn=lambda b: pad_collate(b, pad_keys=["question"]))
    batch = next(iter(loader))
    lengths = [len(ds[i]["question"]) for i in range(16)]
    assert batch["image"].shape == (16, 3, 75, 75)
    assert batch["question"].shape == (16, max(lengths))
    assert batch["question_lengths"].tolist() == lengths
    assert torch.equal(batch["question_mask"], batch["question"] != ds.vocab.pad_id)
    assert batch["label"].shape == (16,) and batch["label"].dtype == torch.int64
    assert batch["question_text"] == [ds[i]["question_text"] for i in range(16)]


def test_load_arrays_caches_under_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_FAST", "1")
    first = soc.load_arrays()
    manifest = json.loads((tmp_path / soc.NAME / "fast" / "manifest.json").read_text())
    assert manifest["version"] == soc.VERSION and manifest["params"] == soc.default_params(fast=True)
    second = data.load_arrays(soc.NAME)
    assert all(np.array_equal(first[key], second[key]) for key in first)
    assert data.dataset_class(soc.NAME) is soc.SortOfClevrText
    assert len(data.get_dataset(soc.NAME, "test")) == 100 * 20


#: SHA-256 of every array of ``generate(small_params(), seed=0)`` before the captions were added
#: (dataset version 1, sorted by name: name bytes then array bytes). The captions must leave them
#: byte-identical: the VQA benchmark tables depend on these images, questions and answers.
VERSION_1_DIGEST = "d70bbda43920e74f3c0870b299ea0991a40f059e1f08900f97aee1b059c94b36"


def test_captions_leave_every_other_array_byte_identical(arrays):
    assert "caption" in arrays
    digest = hashlib.sha256()
    for key in sorted(k for k in arrays if k != "caption"):
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(arrays[key]).tobytes())
    assert digest.hexdigest() == VERSION_1_DIGEST, (
        "images, questions or answers changed: the caption must be derived without consuming random numbers")


def test_captions_name_every_object_colour_shape_and_quadrant(arrays):
    captions = arrays["caption"]
    assert captions.shape == (len(arrays["images"]),) and captions.dtype.kind == "U"
    assert np.array_equal(captions, soc.scene_captions(arrays["object_color"], arrays["object_shape"], arrays["object_x"],
                                                       arrays["object_y"], arrays["color_names"], 75))
    for image in range(len(captions)):
        clauses = re.split(r", and |, ", str(captions[image]).rstrip(".").lower())
        table = object_table(arrays, image)
        assert len(clauses) == len(table)
        for clause, obj in zip(clauses, table):
            vertical = "top" if obj["y"] + 0.5 < 75 / 2 else "bottom"
            horizontal = "left" if obj["x"] + 0.5 < 75 / 2 else "right"
            article = "an" if obj["color"] == "orange" else "a"
            assert clause == f"{article} {obj['color']} {obj['shape']} at the {vertical} {horizontal}", clause
    assert len(set(captions.tolist())) > 0.9 * len(captions)  # captions tell almost every scene apart


def test_caption_is_the_same_for_the_same_scene():
    one = soc.generate(small_params(num_train_images=10, num_val_images=2, num_test_images=2), seed=3)
    two = soc.generate(small_params(num_train_images=10, num_val_images=2, num_test_images=2), seed=3)
    assert np.array_equal(one["caption"], two["caption"])
    assert soc.position_phrase(left=True, top=False) == "bottom left"
