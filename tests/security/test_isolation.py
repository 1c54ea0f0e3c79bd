"""One upload can never stop the night: a report that still fails is named and the others
are published (library, CLI and nightly flow alike), maths in a figure label is drawn as
text, and an event's description can be corrected by uploading the row again."""

from __future__ import annotations

import matplotlib.pyplot as plt
import nbformat
import pandas as pd
import pytest
from prefect import flow
from typer.testing import CliRunner

import flows.nightly as nightly
from reval import pipeline
from reval.cli import app
from reval.config import Settings
from reval.reporting import figures, render
from reval.reporting.render import RenderError
from reval.warehouse import Warehouse

PLAN = [("programme", None), ("site", "alpha"), ("participant", "alpha"), ("site", "beta")]


def _one_report_breaks(monkeypatch, settings: Settings, broken: str) -> None:
    """Four planned reports; ``broken`` raises what typst raised for ``@nurse_jo``."""

    def fake_render(settings, run_id, kind, site_id, formats=("html", "pdf"), kernel=None):
        stem = pipeline.report_stem(kind, site_id)
        if stem == broken:
            raise RuntimeError("the document does not contain a bibliography")
        folder = settings.reports_dir / run_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{stem}.html").write_text("<p>ok</p>", encoding="utf-8")
        return {f"{stem}.html": folder / f"{stem}.html"}

    monkeypatch.setattr(pipeline, "planned_reports", lambda *a, **k: ("run1", PLAN))
    monkeypatch.setattr(pipeline, "render_one_report", fake_render)


def test_a_report_that_fails_is_named_and_every_other_report_is_published(
    monkeypatch, settings
) -> None:
    _one_report_breaks(monkeypatch, settings, "participant-alpha")
    rendered = pipeline.render_reports(settings, "run1")
    assert set(rendered.failed) == {"participant-alpha"}
    assert "bibliography" in rendered.failed["participant-alpha"]
    published = {p.name for p in (settings.reports_dir / "latest").iterdir()}
    assert published == {"programme.html", "site-alpha.html", "site-beta.html"}


def test_reval_report_says_which_report_failed_in_one_line_not_a_traceback(
    monkeypatch, settings
) -> None:
    monkeypatch.setenv("REVAL_HOME", str(settings.home))
    _one_report_breaks(monkeypatch, settings, "site-beta")
    result = CliRunner().invoke(app, ["report"])
    assert result.exit_code == 1
    assert (
        "FAILED site-beta: RuntimeError: the document does not contain a bibliography"
        in result.output
    )
    assert "Traceback" not in result.output
    assert "programme.html" in result.output


def test_a_typst_failure_is_a_render_error_naming_the_step(monkeypatch, tmp_path) -> None:
    """With pandoc's citations back on, ``@nurse_jo`` stops typst; reval names the step
    instead of letting typst's own exception escape."""
    monkeypatch.setattr(render, "PANDOC_MARKDOWN", "markdown")
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("Thanks to @nurse_jo")]
    )
    with pytest.raises(RenderError, match="typesetting the PDF"):
        render._pdf(notebook, tmp_path / "report.pdf")


def test_the_same_markdown_typesets_with_reval_s_own_settings(tmp_path) -> None:
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("Thanks to @nurse_jo E=mc^2^ $x^$")]
    )
    render._pdf(notebook, tmp_path / "report.pdf")
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")


def test_a_crashing_render_task_is_caught_by_the_nightly_flow(
    harness, monkeypatch, settings
) -> None:
    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pipeline, "render_reports", crash)
    monkeypatch.setattr(nightly, "render_reports", nightly.render_reports.with_options(retries=0))

    @flow
    def render_only(home: str) -> dict[str, str]:
        return nightly.render_isolated(home, "run1")

    failed = render_only(str(settings.home))
    assert list(failed) == ["reports"]
    assert "disk full" in failed["reports"]


def test_maths_in_an_event_description_is_drawn_as_written() -> None:
    events = pd.DataFrame({"event_date": ["2020-01-01", "2020-06-01"], "phase": ["emergence", "adaptation"],
                           "description": ["$x^$ went up", "E=mc^2^ @nurse_jo"]})  # fmt: skip
    chart = figures.timeline_chart(events)
    chart.figure.canvas.draw()  # mathtext would raise here on "$x^$"
    labels = [t.get_text().strip() for t in chart.figure.axes[0].texts]
    plt.close(chart.figure)
    assert labels == ["$x^$ went up", "E=mc^2^ @nurse_jo"]


def test_a_site_corrects_an_event_description_by_uploading_the_row_again(
    settings, tmp_path
) -> None:
    """The event key is the site, date and type: the corrected description replaces the
    broken one instead of standing beside it."""
    pipeline.init_workspace(settings)
    sites = tmp_path / "sites.csv"
    sites.write_text("site_id,site_name,care_model,region,start_date\n"
                     "alpha,Alpha Health,Community,North,2020-01-01\n", encoding="utf-8")  # fmt: skip
    first, fixed = tmp_path / "events.csv", tmp_path / "events_fixed.csv"
    header = "site_id,event_date,event_type,phase,description\n"
    first.write_text(
        header + "alpha,2020-03-01,launch,emergence,Launch $x^$ night\n", encoding="utf-8"
    )
    fixed.write_text(header + "alpha,2020-03-01,launch,emergence,Launch night\n", encoding="utf-8")
    for path in (sites, first, fixed):
        assert pipeline.ingest_file(settings, path).fully_accepted
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        events = warehouse.current("events")
    assert events["description"].tolist() == ["Launch night"]
