"""The course's one benchmark command: benchmark rows kept across partial runs, notebooks timed and saved."""
import importlib
import sys

import nbformat
import pytest

from course_lib import config

sys.path.insert(0, str(config.ROOT / "benchmarks"))
run_all = importlib.import_module("run_all")


def test_a_partial_run_replaces_only_the_benchmarks_it_ran():
    scripts = [f"benchmarks/{script}" for _, script, _, _ in run_all.BENCHMARKS]
    kept = [{"script": script, "seconds": 1.0} for script in scripts]
    fresh = [{"script": scripts[1], "seconds": 2.0}]
    merged = run_all.merge_benchmarks(kept, fresh)
    assert [row["script"] for row in merged] == scripts
    assert [row["seconds"] for row in merged] == [1.0, 2.0] + [1.0] * (len(scripts) - 2)
    assert run_all.merge_benchmarks([], fresh) == fresh
    assert run_all.run_benchmarks([]) == []


@pytest.mark.parametrize("source, error", [("print(6 * 7)", None), ("1 / 0", "ZeroDivisionError")])
def test_time_notebook_reports_errors_and_saves_the_executed_copy(tmp_path, source, error):
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), path)
    result = run_all.time_notebook(path, fast=True, save_to=tmp_path / "executed")
    assert result["seconds"] > 0
    if error is None:
        assert result["error"] is None
        saved = nbformat.read(tmp_path / "executed" / "tiny.fast.ipynb", as_version=4)
        assert saved.cells[0].outputs[0]["text"] == "42\n"
    else:
        assert error in result["error"]
        saved = nbformat.read(tmp_path / "executed" / "tiny.fast.ipynb", as_version=4)
        assert saved.cells[0].outputs[0]["ename"] == error  # the copy shows where it failed
    assert nbformat.read(path, as_version=4).cells[0].outputs == []  # the notebook itself is left untouched


def test_the_report_shows_each_benchmarks_latest_table_and_the_time_targets(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "ROOT", tmp_path)
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "benchmarks" / "results" / "vqa.md").write_text("# VQA\n\n| method | accuracy |\n| a | 99.0 |\n")
    bench = {"title": "notebook 06: VQA", "script": "benchmarks/vqa.py", "status": 0, "seconds": 120.0}
    report = {
        "machine": {"device": "cpu", "device_name": "a CPU", "cpu_count": 2, "torch": "2", "python": "3.11"},
        "updated_utc": "2026-01-01T00:00:00+00:00", "parts_run": ["benchmarks", "notebooks"],
        "benchmarks": [{**bench, "results": "benchmarks/results/vqa.md"},
                       {**bench, "title": "notebook 09", "status": 1, "results": "benchmarks/results/none.md"}],
        "notebooks": {"00_a.ipynb": {"fast": {"seconds": 30.0, "error": None}, "full": {"seconds": 4000.0, "error": None}}},
    }
    text = run_all.markdown(report)
    assert "took 2.0 min when this command last ran it. Its latest table" in text and "| a | 99.0 |" in text
    assert "# VQA" not in text  # the table's own title gives way to the benchmark's section title
    assert "FAILED (exit status 1). `benchmarks/results/none.md` has not been written yet." in text
    assert "fast mode <= 10 min (met)" in text and "full mode <= 60 min (NOT met)" in text
