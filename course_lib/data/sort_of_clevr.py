"""Sort-of-CLEVR-Text: visual question answering about coloured squares and circles.

After the Sort-of-CLEVR task of Santoro et al. (2017), "A simple neural network module for
relational reasoning". Each 75x75 image shows 6 objects of distinct colours, each a square
or a circle. Each image comes with 10 non-relational questions (about one object) and 10
relational questions (about an object and the others), written as English sentences in
varied wordings. Each image also has a caption that names every object's colour, shape and
quadrant, for image-text retrieval (notebook 11)::

    arrays = load_arrays()                       # every array, generated once and cached
    train = SortOfClevrText("train")
    item = train[0]
    item["question_text"]   # 'Tell me the shape of the red item.'
    item["image"].shape     # torch.Size([3, 75, 75]), float32 in [0, 1]
    ANSWERS[item["label"]]  # 'square'
    arrays["caption"][0]    # 'A red square at the top left, a green circle at the bottom right, ...'

Coordinates: ``x`` is the pixel column of an object's centre (growing to the right) and
``y`` its pixel row (growing downwards). An object is on the left when its centre lies in
the left half of the image, at the top when it lies in the upper half.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from course_lib import config
from course_lib.data.cache import cached_arrays
from course_lib.data.text import Vocabulary

NAME = "sort_of_clevr_text"
VERSION = "2"  # 2: adds the scene captions; images, questions and answers are unchanged
#: Versions with the same images, questions and answers as ``VERSION``: their results stay comparable.
SAME_QUESTIONS_AS: tuple[str, ...] = ("1", "2")
SEED = 0

#: The colour palette (RGB); a scene uses ``num_objects`` of them, each once.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "orange": (255, 156, 0),
    "gray": (128, 128, 128),
    "yellow": (255, 255, 0),
}
SHAPES: tuple[str, ...] = ("square", "circle")
#: The answer vocabulary; a question's ``answer`` is an index into it.
ANSWERS: tuple[str, ...] = ("yes", "no", "square", "circle", "1", "2", "3", "4", "5", "6")
#: Question subtypes: the first three are non-relational (qtype 0), the last three relational (qtype 1).
SUBTYPES: tuple[str, ...] = ("shape", "horizontal", "vertical", "closest", "furthest", "count")
QTYPES: tuple[str, ...] = ("non-relational", "relational")
SPLITS: tuple[str, ...] = ("train", "val", "test")

# Question templates per subtype. Slots: {color}; {obj}, {obj2} (object, thing or item);
# {objs} (plural); {img} (image, picture or scene); {side}: the side that a yes/no question names.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "shape": (
        "What shape is the {color} {obj}?",
        "What is the shape of the {color} {obj}?",
        "Is the {color} {obj} a square or a circle?",
        "Is the {color} {obj} a circle or a square?",
        "Tell me the shape of the {color} {obj}.",
    ),
    "horizontal": (
        "Is the {color} {obj} on the {side} side of the {img}?",
        "Is the {color} {obj} on the {side}?",
        "Is the {color} {obj} in the {side} half of the {img}?",
        "Does the {color} {obj} lie on the {side} side?",
        "Is the {color} {obj} located to the {side}?",
    ),
    "vertical": (
        "Is the {color} {obj} at the {side} of the {img}?",
        "Is the {color} {obj} at the {side}?",
        "Is the {color} {obj} in the {side} half of the {img}?",
        "Is the {color} {obj} in the {side} half?",
        "Does the {color} {obj} lie in the {side} part of the {img}?",
    ),
    "closest": (
        "What shape is the {obj2} closest to the {color} {obj}?",
        "What is the shape of the {obj2} nearest to the {color} one?",
        "Which shape is nearest to the {color} {obj}?",
        "Is the {obj2} closest to the {color} {obj} a square or a circle?",
        "What shape is the nearest neighbour of the {color} {obj}?",
    ),
    "furthest": (
        "What shape is the {obj2} furthest from the {color} {obj}?",
        "What is the shape of the {obj2} farthest from the {color} one?",
        "Which shape is farthest away from the {color} {obj}?",
        "Is the {obj2} furthest from the {color} {obj} a square or a circle?",
        "What shape is the {obj2} most distant from the {color} {obj}?",
    ),
    "count": (
        "How many {objs} have the same shape as the {color} {obj}?",
        "How many {objs} share the {color} {obj}'s shape?",
        "How many {objs} are the same shape as the {color} one?",
        "What is the number of {objs} with the same shape as the {color} {obj}?",
        "Count the {objs} that are shaped like the {color} {obj}.",
    ),
}
#: Words for the side a yes/no question names, per template: (first half, second half).
#: Horizontal: (left, right). Vertical: (top, bottom), or (upper, lower) where the sentence needs an adjective.
SIDE_WORDS: dict[str, tuple[tuple[str, str], ...]] = {
    "horizontal": (("left", "right"),) * 5,
    "vertical": (("top", "bottom"), ("top", "bottom"), ("upper", "lower"), ("top", "bottom"), ("upper", "lower")),
}
_NOUNS = ("object", "thing", "item")
_PLURALS = ("objects", "things", "items")
_IMAGE_WORDS = ("image", "picture", "scene")
_COLOR_WORDS = {"gray": ("gray", "grey")}  # colours with more than one spelling


def default_params(fast: bool) -> dict[str, Any]:
    """The generator's settings: a few hundred images in fast mode, 10,000 in full mode."""
    return {
        "num_train_images": 300 if fast else 9000,
        "num_val_images": 100 if fast else 500,
        "num_test_images": 100 if fast else 500,
        "image_size": 75,
        "object_size": 5,  # a square is 2 * 5 + 1 = 11 pixels wide; a circle fits the same box
        "num_objects": 6,
        "colors": list(COLORS),
        "non_relational_per_image": 10,
        "relational_per_image": 10,
        "min_gap": 2,  # background pixels at least between two objects
        "midline_margin": 2,  # a centre is at least this far (pixels) from the middle lines
        "distance_margin": 2.0,  # pixels by which a closest/furthest answer beats any other shape
    }


def check_params(params: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the parameter when ``params`` cannot make a dataset."""
    missing = set(default_params(fast=True)) - set(params)
    if missing:
        raise ValueError(f"params is missing {sorted(missing)}")
    for key in ("num_train_images", "num_val_images", "num_test_images", "non_relational_per_image",
                "relational_per_image", "min_gap", "midline_margin"):
        if not isinstance(params[key], int) or params[key] < 0:
            raise ValueError(f"{key} must be a non-negative int, got {params[key]!r}")
    if params["num_train_images"] < 1:
        raise ValueError(f"num_train_images must be at least 1, got {params['num_train_images']}")
    unknown = [c for c in params["colors"] if c not in COLORS]
    if unknown or len(set(params["colors"])) != len(params["colors"]):
        raise ValueError(f"colors must be distinct names from {list(COLORS)}, got {params['colors']}")
    if not 2 <= params["num_objects"] <= len(params["colors"]):
        raise ValueError(
            f"num_objects must be between 2 and the number of colors ({len(params['colors'])}), "
            f"got {params['num_objects']}"
        )
    for key in ("image_size", "object_size"):
        if not isinstance(params[key], int) or params[key] < 1:
            raise ValueError(f"{key} must be a positive int, got {params[key]!r}")
    if params["distance_margin"] < 0:
        raise ValueError(f"distance_margin must be >= 0, got {params['distance_margin']}")
    if not _center_coordinates(params).size:
        raise ValueError(
            f"image_size={params['image_size']} is too small for objects of size "
            f"{params['object_size']} kept {params['midline_margin']} pixels from the middle lines"
        )


def _center_coordinates(params: dict[str, Any]) -> np.ndarray:
    """The pixel columns (or rows) where an object's centre may lie.

    The object stays inside the image, and its centre (the middle of pixel ``c``,
    at ``c + 0.5``) is at least ``midline_margin`` pixels from the middle line ``W / 2``.
    """
    size, width = params["object_size"], params["image_size"]
    c = np.arange(size, width - size)
    return c[np.abs(2 * c + 1 - width) >= 2 * params["midline_margin"]]


def _valid_scenes(shapes: np.ndarray, x: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """Which candidate scenes are usable. shapes, x, y: (N, K). Returns (N,) bool.

    Usable: objects neither overlap nor touch (``min_gap``), and no relational answer hangs on
    a near tie: for every object, each other object whose shape differs from that of the closest
    (furthest) one is at least ``distance_margin`` pixels further (closer) than it.
    """
    dx = x[:, :, None] - x[:, None, :]
    dy = y[:, :, None] - y[:, None, :]
    eye = np.eye(x.shape[1], dtype=bool)
    chebyshev = np.where(eye, np.inf, np.maximum(np.abs(dx), np.abs(dy)))
    apart = (chebyshev >= 2 * params["object_size"] + 1 + params["min_gap"]).all(axis=(1, 2))

    distance = np.sqrt(dx**2 + dy**2)
    margin = params["distance_margin"]
    near = np.where(eye, np.inf, distance)
    far = np.where(eye, -np.inf, distance)
    closest_shape = np.take_along_axis(shapes, near.argmin(axis=2), axis=1)  # (N, K)
    furthest_shape = np.take_along_axis(shapes, far.argmax(axis=2), axis=1)
    other_near = np.where(shapes[:, None, :] != closest_shape[:, :, None], near, np.inf)
    other_far = np.where(shapes[:, None, :] != furthest_shape[:, :, None], far, -np.inf)
    clear_closest = other_near.min(axis=2) - near.min(axis=2) >= margin
    clear_furthest = far.max(axis=2) - other_far.max(axis=2) >= margin
    return apart & (clear_closest & clear_furthest).all(axis=1)


def place_objects(rng: np.random.Generator, shapes: np.ndarray, params: dict[str, Any],
                  max_rounds: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Random centres for objects of the given ``shapes`` (N, K), by rejection sampling.

    Returns ``x, y``: int64 arrays of shape (N, K) that :func:`_valid_scenes` accepts.
    """
    coords = _center_coordinates(params)
    n, k = shapes.shape
    x = np.zeros((n, k), dtype=np.int64)
    y = np.zeros((n, k), dtype=np.int64)
    todo = np.arange(n)
    for _ in range(max_rounds):
        if todo.size == 0:
            break
        cx = rng.choice(coords, size=(todo.size, k))
        cy = rng.choice(coords, size=(todo.size, k))
        ok = _valid_scenes(shapes[todo], cx, cy, params)
        x[todo[ok]], y[todo[ok]] = cx[ok], cy[ok]
        todo = todo[~ok]
    if todo.size:
        raise ValueError(
            f"could not place {k} objects of size {params['object_size']} in a "
            f"{params['image_size']}x{params['image_size']} image after {max_rounds} tries: "
            "use a larger image_size, fewer objects, or a smaller object_size, min_gap or distance_margin"
        )
    return x, y


def draw_scene(colors_rgb: np.ndarray, shapes: np.ndarray, x: np.ndarray, y: np.ndarray,
               image_size: int, object_size: int) -> np.ndarray:
    """Draw one scene on a white background.

    A square fills the (2 * object_size + 1)-pixel box around its centre; a circle is the
    disk of radius ``object_size + 0.5`` pixels inside the same box.

    Args:
        colors_rgb: (K, 3) uint8 colour of each object.
        shapes: (K,) index into :data:`SHAPES`.
        x, y: (K,) centre column and row of each object.

    Returns:
        (image_size, image_size, 3) uint8 RGB image.
    """
    s = object_size
    dy, dx = np.mgrid[-s : s + 1, -s : s + 1]
    footprints = {"square": np.ones_like(dx, dtype=bool), "circle": dx**2 + dy**2 <= s * (s + 1)}
    image = np.full((image_size, image_size, 3), 255, dtype=np.uint8)
    for color, shape, cx, cy in zip(colors_rgb, shapes, x, y):
        box = image[cy - s : cy + s + 1, cx - s : cx + s + 1]  # a view: writing to it draws
        box[footprints[SHAPES[shape]]] = color
    return image


def scene_facts(shapes: np.ndarray, x: np.ndarray, y: np.ndarray, image_size: int) -> dict[str, np.ndarray]:
    """Facts about every object of every scene, each an (N, K) array.

    ``shape``, ``closest_shape``, ``furthest_shape``: index into :data:`SHAPES`;
    ``left``, ``top``: bool, the centre lies in the left / upper half;
    ``same_shape_count``: how many objects, itself included, share the object's shape.
    """
    dx = x[:, :, None] - x[:, None, :]
    dy = y[:, :, None] - y[:, None, :]
    distance = np.sqrt(dx**2 + dy**2)
    eye = np.eye(x.shape[1], dtype=bool)
    closest = np.where(eye, np.inf, distance).argmin(axis=2)
    furthest = np.where(eye, -np.inf, distance).argmax(axis=2)
    return {
        "shape": shapes,
        "left": 2 * x + 1 < image_size,
        "top": 2 * y + 1 < image_size,
        "closest_shape": np.take_along_axis(shapes, closest, axis=1),
        "furthest_shape": np.take_along_axis(shapes, furthest, axis=1),
        "same_shape_count": (shapes[:, :, None] == shapes[:, None, :]).sum(axis=2),
    }


def position_phrase(left: bool, top: bool) -> str:
    """The coarse position of an object's centre: ``"top left"``, ``"top right"``, ``"bottom left"`` or ``"bottom right"``."""
    return f"{'top' if top else 'bottom'} {'left' if left else 'right'}"


def scene_captions(object_color: np.ndarray, object_shape: np.ndarray, object_x: np.ndarray,
                   object_y: np.ndarray, color_names: list[str] | np.ndarray, image_size: int) -> np.ndarray:
    """One caption per scene that names every object's colour, shape and quadrant, in the scenes' object order.

    Derived from the scene annotations alone (no random numbers), so adding the captions
    leaves every other array of :func:`generate` unchanged. Objects are named in the order of
    ``object_color`` (palette order, as :func:`generate` sorts them); the quadrant is the one
    that holds the object's centre, with the halves of :func:`scene_facts`::

        "A red square at the top left, a green circle at the bottom left, ..., and a yellow
         circle at the top right."

    Args:
        object_color: (N, K) index into ``color_names``.
        object_shape: (N, K) index into :data:`SHAPES`.
        object_x, object_y: (N, K) centre column and row in pixels.
        image_size: the image's width and height in pixels.

    Returns:
        (N,) str array.
    """
    facts = scene_facts(object_shape, object_x, object_y, image_size)
    captions = []
    for colors, shapes, left, top in zip(object_color, object_shape, facts["left"], facts["top"]):
        phrases = []
        for color, shape, is_left, is_top in zip(colors, shapes, left, top):
            name = str(color_names[color])
            article = "an" if name[0] in "aeiou" else "a"
            phrases.append(f"{article} {name} {SHAPES[shape]} at the {position_phrase(bool(is_left), bool(is_top))}")
        text = ", ".join(phrases[:-1]) + f", and {phrases[-1]}" if len(phrases) > 1 else phrases[0]
        captions.append(text[0].upper() + text[1:] + ".")
    return np.array(captions, dtype=str)


def _answer_index(subtype: int, facts: dict[str, np.ndarray], image: int, obj: int, side: int) -> int:
    """The answer to one question; ``side`` is 0 when it names left/top, 1 for right/bottom."""
    name = SUBTYPES[subtype]
    if name in ("shape", "closest", "furthest"):
        key = {"shape": "shape", "closest": "closest_shape", "furthest": "furthest_shape"}[name]
        return ANSWERS.index(SHAPES[facts[key][image, obj]])
    if name in ("horizontal", "vertical"):
        in_first_half = bool(facts["left" if name == "horizontal" else "top"][image, obj])
        return ANSWERS.index("yes" if in_first_half == (side == 0) else "no")
    return ANSWERS.index(str(facts["same_shape_count"][image, obj]))


def _pick(options: tuple[str, ...], u: float) -> str:
    """The option that a uniform random number ``u`` in [0, 1) selects."""
    return options[int(u * len(options))]


def _template_table() -> list[tuple[int, int, str]]:
    """Every template as (global template id, subtype, text), in the order of :data:`TEMPLATES`."""
    rows = []
    for subtype, name in enumerate(SUBTYPES):
        for template in TEMPLATES[name]:
            rows.append((len(rows), subtype, template))
    return rows


def generate(params: dict[str, Any], seed: int) -> dict[str, np.ndarray]:
    """Make the whole dataset from ``params`` and ``seed``; the same inputs give the same bytes.

    Returns arrays (N images, Q = N * questions per image, K objects, C colours):

    - ``images`` (N, S, S, 3) uint8; ``image_split`` (N,) index into ``split_names``
      (images are ordered train, val, test).
    - ``object_color`` (N, K) index into ``color_names``, ``object_shape`` (N, K) index into
      ``shape_names``, ``object_x``, ``object_y`` (N, K) centre column and row.
    - ``question_image`` (Q,) image index, ``question_text`` (Q,) str, ``question_color`` (Q,)
      colour asked about, ``question_template`` (Q,) template id, ``answer`` (Q,) index into
      ``answer_names``, ``qtype`` (Q,) 0 non-relational / 1 relational, ``subtype`` (Q,) index
      into ``subtype_names``.
    - ``caption`` (N,) str: every object's colour, shape and quadrant (:func:`scene_captions`),
      derived from the annotations without random numbers.
    - ``color_names`` (C,), ``color_rgb`` (C, 3) uint8, ``shape_names``, ``answer_names``,
      ``subtype_names``, ``split_names``, ``template_text`` and ``template_subtype``.
    """
    check_params(params)
    rng = np.random.default_rng(seed)
    split_sizes = [params["num_train_images"], params["num_val_images"], params["num_test_images"]]
    n = sum(split_sizes)
    k = params["num_objects"]
    size = params["image_size"]
    color_names = list(params["colors"])
    palette = np.array([COLORS[c] for c in color_names], dtype=np.uint8)

    # Scenes: a sorted random subset of the colours, a random shape and position for each object.
    object_color = np.sort(np.argsort(rng.random((n, len(color_names))), axis=1)[:, :k], axis=1)
    object_shape = rng.integers(0, len(SHAPES), size=(n, k))
    object_x, object_y = place_objects(rng, object_shape, params)
    images = np.stack([
        draw_scene(palette[object_color[i]], object_shape[i], object_x[i], object_y[i], size, params["object_size"])
        for i in tqdm(range(n), desc=f"drawing {NAME}", leave=False)
    ])

    # Questions: per image, the non-relational ones first, then the relational ones.
    n_non, n_rel = params["non_relational_per_image"], params["relational_per_image"]
    per_image = n_non + n_rel
    subtype = np.concatenate([rng.integers(0, 3, size=(n, n_non)), rng.integers(3, 6, size=(n, n_rel))], axis=1).ravel()
    question_image = np.repeat(np.arange(n), per_image)
    question_object = rng.integers(0, k, size=n * per_image)
    side = rng.integers(0, 2, size=n * per_image)
    word_choice = rng.random(size=(n * per_image, 5))  # uniform picks: template, colour word, nouns, image word
    facts = scene_facts(object_shape, object_x, object_y, size)

    templates = _template_table()
    first_template = {s: min(t for t, st, _ in templates if st == s) for s in range(len(SUBTYPES))}
    texts, template_ids, answers = [], [], []
    for q in range(n * per_image):
        st, image, obj = int(subtype[q]), int(question_image[q]), int(question_object[q])
        name = SUBTYPES[st]
        u = word_choice[q].tolist()
        local = int(u[0] * len(TEMPLATES[name]))
        color = color_names[object_color[image, obj]]
        sides = SIDE_WORDS[name][local] if name in SIDE_WORDS else ("", "")
        texts.append(TEMPLATES[name][local].format(
            color=_pick(_COLOR_WORDS.get(color, (color,)), u[1]),
            obj=_pick(_NOUNS, u[2]),
            obj2=_pick(_NOUNS, u[3]),
            objs=_pick(_PLURALS, u[3]),
            img=_pick(_IMAGE_WORDS, u[4]),
            side=sides[side[q]],
        ))
        template_ids.append(first_template[st] + local)
        answers.append(_answer_index(st, facts, image, obj, int(side[q])))

    return {
        "images": images,
        "image_split": np.repeat(np.arange(len(SPLITS)), split_sizes),
        "object_color": object_color,
        "object_shape": object_shape,
        "object_x": object_x,
        "object_y": object_y,
        "question_image": question_image,
        "question_text": np.array(texts, dtype=str),
        "question_color": object_color[question_image, question_object],
        "question_template": np.array(template_ids, dtype=np.int64),
        "answer": np.array(answers, dtype=np.int64),
        "qtype": (subtype >= 3).astype(np.int64),
        "subtype": subtype,
        "caption": scene_captions(object_color, object_shape, object_x, object_y, color_names, size),
        "color_names": np.array(color_names, dtype=str),
        "color_rgb": palette,
        "shape_names": np.array(SHAPES, dtype=str),
        "answer_names": np.array(ANSWERS, dtype=str),
        "subtype_names": np.array(SUBTYPES, dtype=str),
        "split_names": np.array(SPLITS, dtype=str),
        "template_text": np.array([t for _, _, t in templates], dtype=str),
        "template_subtype": np.array([st for _, st, _ in templates], dtype=np.int64),
    }


def load_arrays(fast: bool | None = None, regenerate: bool = False) -> dict[str, np.ndarray]:
    """Every array of the dataset (see :func:`generate`), from the cache or generated on first use.

    ``fast`` defaults to :func:`course_lib.config.is_fast`.
    """
    fast = config.is_fast() if fast is None else fast
    return cached_arrays(NAME, params=default_params(fast), seed=SEED, version=VERSION,
                         generate=generate, fast=fast, regenerate=regenerate)


class SortOfClevrText(Dataset):
    """The questions of one split of Sort-of-CLEVR-Text as a PyTorch dataset of dictionaries.

    Splits are made of whole images: an image and all its 20 questions are in one split.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        fast: the small fast-mode data; defaults to :func:`course_lib.config.is_fast`.
        transforms: optional callables by key, ``"image"`` and/or ``"question"``, applied
            to that tensor of each item, e.g. ``{"image": v2.Normalize(mean, std)}``.
        vocab: the word vocabulary; by default built from the training split's questions
            (also for ``"val"`` and ``"test"``, so all splits share the training ids).
        arrays: the output of :func:`generate` to use instead of the cached dataset.

    Items:
        image float32 (3, S, S) in [0, 1]; question int64 (L,) token ids, L varies;
        question_text str; label int64 index into :data:`ANSWERS`; qtype int64
        (0 non-relational, 1 relational); subtype int64 index into :data:`SUBTYPES`.

    Batch the questions with padding::

        collate = functools.partial(pad_collate, pad_keys=["question"])
        loader = DataLoader(train, batch_size=64, shuffle=True, collate_fn=collate)
        # batch["question"] (B, L_max) padded with <pad> = 0, batch["question_mask"] (B, L_max) bool
    """

    def __init__(
        self,
        split: str = "train",
        fast: bool | None = None,
        transforms: dict[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
        vocab: Vocabulary | None = None,
        *,
        arrays: dict[str, np.ndarray] | None = None,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        self.transforms = dict(transforms or {})
        unknown = set(self.transforms) - {"image", "question"}
        if unknown:
            raise ValueError(f"transforms has keys {sorted(unknown)}; only 'image' and 'question' can be transformed")
        arrays = load_arrays(fast) if arrays is None else arrays
        image_split = arrays["image_split"][arrays["question_image"]]  # the split of each question
        rows = np.flatnonzero(image_split == SPLITS.index(split))
        if vocab is None:
            vocab = Vocabulary.build(arrays["question_text"][image_split == SPLITS.index("train")].tolist())
        self.split = split
        self.vocab = vocab
        self.images = arrays["images"]  # all images; questions index into them
        self.question_image = arrays["question_image"][rows]
        self.question_text = arrays["question_text"][rows]
        self.labels = arrays["answer"][rows]
        self.qtype = arrays["qtype"][rows]
        self.subtype = arrays["subtype"][rows]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} questions")
        image = torch.from_numpy(self.images[self.question_image[index]]).permute(2, 0, 1).float() / 255
        text = str(self.question_text[index])
        question = torch.tensor(self.vocab.encode(text), dtype=torch.int64)
        return {
            "image": self.transforms["image"](image) if "image" in self.transforms else image,
            "question": self.transforms["question"](question) if "question" in self.transforms else question,
            "question_text": text,
            "label": torch.tensor(self.labels[index]),
            "qtype": torch.tensor(self.qtype[index]),
            "subtype": torch.tensor(self.subtype[index]),
        }
