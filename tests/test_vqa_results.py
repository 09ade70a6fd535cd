"""The committed VQA benchmark results (notebook 06's table) agree with the code that notebook 06 runs."""
from __future__ import annotations

import json

import pytest

from course_lib import config
from course_lib.data import sort_of_clevr as soc
from course_lib.experiments import sort_of_clevr_vqa as vqa

RESULTS = config.ROOT / "benchmarks" / "results" / "vqa_sort_of_clevr.json"


@pytest.fixture(scope="module")
def report() -> dict:
    return json.loads(RESULTS.read_text())


def test_every_method_has_a_row_with_its_training_signal_and_every_seed(report):
    rows = {row["method"]: row for row in report["rows"]}
    assert list(rows) == list(vqa.METHODS)  # every method, in the table's order
    assert report["dataset_version"] in soc.SAME_QUESTIONS_AS
    for method, row in rows.items():
        assert row["signal"] == vqa.TRAINING_SIGNAL[method]
        assert [run["seed"] for run in row["runs"]] == row["seeds"] and row["seeds"]
        for run in row["runs"]:
            for key in ("accuracy", *soc.QTYPES, *soc.SUBTYPES):
                assert 0.0 <= run[key] <= 1.0, (method, key)
            assert run["seconds"] > 0 and run["method"] == method


def test_the_rows_were_trained_with_todays_settings(report):
    for row in report["rows"]:
        method = row["method"]
        for run in row["runs"]:
            assert run["epochs"] == vqa.EPOCHS[method] and run["lr"] == vqa.LEARNING_RATES[method], method
            assert run.get("patience") == vqa.PATIENCE.get(method), method


def test_the_baselines_learning_rates_are_the_ones_the_search_chose(report):
    search = report["lr_search"]
    assert set(search) == set(vqa.LR_SEARCH_EPOCHS)
    for method, scores in search.items():
        assert set(scores) == {f"{lr:g}" for lr in vqa.LR_CANDIDATES}
        assert float(max(scores, key=scores.get)) == vqa.LEARNING_RATES[method], method


def test_the_markdown_table_shows_every_row_and_the_targets(report):
    table = RESULTS.with_suffix(".md").read_text()
    for row in report["rows"]:
        assert f"| {row['name']} | {row['signal']} |" in table
    for result in report["target"].values():
        assert vqa.METHODS[result["best"]] in table
