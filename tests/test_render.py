"""Rendering: the built-in renderer makes self-contained HTML and a real PDF from a
percent-format source; the Quarto path passes parameters and formats; failures name
the chunk."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from reval.reporting.render import RenderError, quarto_command, render_report

SOURCE = Path(__file__).parent / "reports" / "sample_source.py"


def test_builtin_renderer_writes_self_contained_html_and_a_pdf(tmp_path) -> None:
    report = render_report(SOURCE, tmp_path, "site-gm_cancer", {"site": "gm_cancer"})
    assert report.engine == "builtin"
    html = report.outputs["html"].read_text(encoding="utf-8")
    assert "Results for <strong>gm_cancer</strong>." in html
    assert re.search(r'<img[^>]+src="data:image/png;base64,', html)
    assert not re.search(r'(src|href)="https?://', html)  # one file, nothing fetched
    assert '<html lang="en-GB">' in html
    assert "<title>Sample report for the renderer tests</title>" in html
    assert "import matplotlib" not in html  # code hidden
    pdf = report.outputs["pdf"].read_bytes()
    assert pdf.startswith(b"%PDF")
    assert len(pdf) > 5_000


def test_a_failing_chunk_is_named(tmp_path) -> None:
    with pytest.raises(RenderError) as caught:
        render_report(SOURCE, tmp_path, "broken", {"fail": True}, formats=("html",))
    assert "cell" in caught.value.chunk
    assert "if fail:" in caught.value.chunk
    assert "deliberate failure for the test" in str(caught.value)


def test_quarto_path_passes_parameters_formats_and_reports_failures(tmp_path) -> None:
    fake = tmp_path / "quarto"
    calls = tmp_path / "calls.txt"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {calls}\n'
        'out=""; dir=""\n'
        'while [ $# -gt 0 ]; do case "$1" in --output) out="$2"; shift;; --output-dir) dir="$2"; shift;; esac; shift; done\n'
        'echo rendered > "$dir/$out"\n',
        encoding="utf-8",
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    assert quarto_command(str(fake)) == str(fake)
    report = render_report(SOURCE, tmp_path / "out", "programme", {"site": "all"}, quarto=str(fake))
    assert report.engine == "quarto"
    assert set(report.outputs) == {"html", "pdf"}
    lines = calls.read_text().splitlines()
    for part in ("--to html", "-P site:all", "embed-resources:true"):
        assert part in lines[0]
    assert "--to pdf" in lines[1]
    failing = tmp_path / "failing"
    failing.write_text(
        "#!/bin/sh\necho 'An error occurred while executing the following cell: setup' >&2\nexit 1\n"
    )
    failing.chmod(failing.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(RenderError, match="executing the following cell: setup"):
        render_report(
            SOURCE, tmp_path / "out2", "programme", {}, formats=("html",), quarto=str(failing)
        )


def test_reports_render_from_a_relative_workspace_path(
    tmp_path, monkeypatch, evaluated_sample
) -> None:
    """The report kernel runs in the reports folder: the workspace must reach it absolute."""
    from reval.config import Settings
    from reval.pipeline import render_reports

    _, run_id = evaluated_sample(tmp_path / "relative-workspace")
    monkeypatch.chdir(tmp_path)
    settings = Settings(home=Path("relative-workspace"))
    written = render_reports(settings, run_id, ("html",), kinds=("programme",)).written
    assert "Intended versus actual outcomes" in written["programme.html"].read_text(
        encoding="utf-8"
    )
    assert (tmp_path / "relative-workspace" / "reports" / "latest" / "programme.html").is_file()


def test_render_errors_are_plain_text(tmp_path) -> None:
    with pytest.raises(RenderError) as caught:
        render_report(SOURCE, tmp_path, "broken", {"fail": True}, formats=("html",))
    assert "\x1b[" not in str(caught.value)


def test_pdf_uses_the_bundled_pandoc_not_an_older_one_on_path(tmp_path, monkeypatch) -> None:
    """An old system pandoc (Debian 12 ships 2.17, which cannot write typst) on PATH must
    not be picked up."""
    fake = tmp_path / "bin" / "pandoc"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'pandoc 99.0'\nexit 3\n", encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    report = render_report(SOURCE, tmp_path / "out", "x", {"site": "all"}, formats=("pdf",))
    assert report.outputs["pdf"].read_bytes().startswith(b"%PDF")


def test_kernels_warmed_in_the_background_are_the_ones_reports_use(tmp_path) -> None:
    """The nightly flow warms the report kernels while its models are fitted: the kernels
    handed out afterwards must be those (already holding the reports' imports), not new
    cold ones, and must render."""
    from reval.reporting.render import _IDLE_KERNELS, pooled_kernel, warm_kernels

    source = tmp_path / "modules.py"
    source.write_text(
        "# %%\nimport sys\nfrom IPython.display import Markdown, display\n"
        "display(Markdown('warm: ' + str('reval.reporting.figures' in sys.modules)))\n",
        encoding="utf-8",
    )
    warm_kernels(tmp_path, 2)
    warmed = list(_IDLE_KERNELS[tmp_path])
    assert len(warmed) == 2
    warm_kernels(tmp_path, 2)  # already there: none added
    assert _IDLE_KERNELS[tmp_path] == warmed
    with pooled_kernel(tmp_path) as kernel:
        assert kernel in warmed
        report = render_report(source, tmp_path, "out", {}, ("html",), kernel=kernel)
    assert "warm: True" in report.outputs["html"].read_text(encoding="utf-8")
    for kernel in _IDLE_KERNELS.pop(tmp_path):
        kernel.shutdown()
