"""Write a benchmark's results: the full report as JSON and its tables as markdown, side by side."""
from __future__ import annotations

import json
from pathlib import Path


def write_report(folder: Path, name: str, report: dict, markdown: str) -> Path:
    """Write ``folder/name.json`` (``report``) and ``folder/name.md`` (``markdown``); return the .md path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    path = folder / f"{name}.md"
    path.write_text(markdown, encoding="utf-8")
    return path
