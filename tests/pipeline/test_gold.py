"""The normalizer against the hand-labelled gold set, and the evaluate command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from pipeline.evaluation import evaluate, load_gold

GOLD = Path(__file__).resolve().parents[1] / "gold"


def test_gold_set_is_what_the_issue_asks_for() -> None:
    records = load_gold(GOLD)
    assert len(records) >= 60
    assert len({r.expected.get("language") for r in records}) >= 6
    assert len({r.raw.extraction_method for r in records}) >= 4
    assert len({r.id for r in records}) == len(records)


def test_normalizer_meets_every_threshold() -> None:
    report = evaluate(GOLD)
    assert report.failures() == [], report.table()
    assert set(report.thresholds) >= {"country", "dates", "deadline", "required_languages",
                                      "age_range", "support", "themes", "duplicates"}


def _tilts(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tilts.cli", *args], capture_output=True,
                          text=True, timeout=180, check=False)


def test_evaluate_command_prints_scores_and_passes() -> None:
    done = _tilts("evaluate", str(GOLD))
    assert done.returncode == 0, done.stderr
    assert "precision" in done.stdout and "duplicates" in done.stdout
    assert "all thresholds met" in done.stdout


def test_evaluate_command_fails_below_threshold(tmp_path: Path) -> None:
    shutil.copy(GOLD / "brivpratigie-lv.yaml", tmp_path)
    text = (GOLD / "brivpratigie-lv.yaml").read_text(encoding="utf-8")
    # Mislabel every deadline by a year: the normalizer is now "wrong" on all of them.
    (tmp_path / "brivpratigie-lv.yaml").write_text(
        text.replace('deadline: "2026-', 'deadline: "2025-').replace('deadline: "2027-', 'deadline: "2028-'),
        encoding="utf-8")
    (tmp_path / "thresholds.toml").write_text("[minimum]\ndeadline = 0.9\n")
    done = _tilts("evaluate", str(tmp_path))
    assert done.returncode == 1
    assert "deadline" in done.stderr
