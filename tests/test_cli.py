"""The reval command: help lists every command; commands call the library."""

from __future__ import annotations

import subprocess
import sys

import openpyxl
from typer.testing import CliRunner

from reval.cli import app

runner = CliRunner()


def test_help_lists_every_command_with_one_line() -> None:
    result = subprocess.run([sys.executable, "-m", "reval.cli", "--help"], capture_output=True,
                            text=True, check=True)  # fmt: skip
    for command in ("init", "sample-data", "templates", "ingest", "demo"):
        assert command in result.stdout


def test_init_creates_the_workspace(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REVAL_HOME", str(tmp_path / "ws"))
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ws" / "warehouse.duckdb").is_file()
    assert (tmp_path / "ws" / "archive").is_dir()
    assert str(tmp_path / "ws") in result.output


def test_templates_command_writes_openable_workbooks(tmp_path) -> None:
    result = runner.invoke(app, ["templates", str(tmp_path / "t")])
    assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(tmp_path / "t" / "value_items.xlsx")
    assert "value_items" in book.sheetnames


def test_sample_data_command_writes_the_programme(tmp_path) -> None:
    result = runner.invoke(app, ["sample-data", "--out", str(tmp_path), "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "truth.json").is_file()
    assert len(list((tmp_path / "workbooks").glob("*.xlsx"))) == 6


def test_ingest_reports_problems_and_fails_on_a_rejected_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REVAL_HOME", str(tmp_path / "ws"))
    bad = tmp_path / "events.csv"
    bad.write_text("site_id,event_date,event_type,phase,description\n"
                   "gm_cancer,31/02/2017,launch,growth,Launch\n", encoding="utf-8")  # fmt: skip
    result = runner.invoke(app, ["ingest", str(bad)])
    assert result.exit_code == 1
    assert "events.csv, cell B2 (event_date): '31/02/2017'" in result.output
    assert "cell D2 (phase): 'growth' is not one of the allowed answers" in result.output
