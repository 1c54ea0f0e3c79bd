"""Issue 17, one site's upload can never break the night, end to end: the nightly flow as
``reval run`` runs it (Prefect's harness, rendering on), over the evaluated sample
programme with one hostile file per table in the inbox, each for one site.

Before the fix the first unreadable file raised out of the ingest task (the file stayed
in the inbox and nothing behind it loaded, night after night), and one ``@word`` in a
story or ``$x^$`` in an event description stopped the render task, so nothing reached
``reports/latest`` for any site or the programme. Now each unreadable file goes to
``inbox/failed/`` with its reason, hostile text that is valid data is loaded and shown
as written, a report that still fails (one is made to fail here) is named while every
other report is published, and the run ends failed saying which. The same night one
site's models fail (matching made to raise): recorded, said in its reports, and every
other site's results are stored.

One workspace, rendered once for the module: rendering is the expensive part."""

from __future__ import annotations

import datetime as dt
import io
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from bs4 import BeautifulSoup
from prefect.states import State
from pypdf import PdfReader

from flows.nightly import nightly_evaluation
from reval import evaluation, pipeline
from reval.config import SAMPLE_DATA_DIR, Settings
from reval.contract import TABLES
from reval.identifiers import mask_name, nhs_number_spans
from reval.reporting.render import RenderError
from reval.warehouse import Warehouse
from tests.security.test_hardening_readers import entry_larger_than_declared

SITES = sorted(p.stem for p in (SAMPLE_DATA_DIR / "workbooks").glob("*.xlsx"))
BROKEN_REPORT = "site-morecambe_bay"
"""The one report made to fail as no hostile value can any more (the renderer raises)."""
FAILING_SITE = "stockport_together"
"""The one site whose models fail (its matching raises)."""
STORY = (
    "Thanks to @nurse_jo: $x^$ made E=mc^2^ easy, and the whole group came back the "
    "next week to tell the practice so"
)  # the longest of the latest wave: shown first
NHS_STORY = "My NHS number is 943 476 5919"
EVENT = "$x^$ went up at the E=mc^2^ night with @nurse_jo"
HARVESTED = "E=mc^2^ and H~2~O: the group thanked @nurse_jo"


def _sheets(site: str) -> dict[str, pd.DataFrame]:
    sheets = pd.read_excel(SAMPLE_DATA_DIR / "workbooks" / f"{site}.xlsx", sheet_name=None,
                           engine="calamine", dtype=object)  # fmt: skip
    sheets["paradigm_statements"] = pd.read_csv(SAMPLE_DATA_DIR / "paradigm_statements.csv")
    return {t: f.map(lambda v: f"{v:%Y-%m-%d}" if isinstance(v, dt.date) else v)
            for t, f in sheets.items()}  # fmt: skip


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _workbook(table: str, frame: pd.DataFrame) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = table
    sheet.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        sheet.append([None if pd.isna(v) else v for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _long_cell(frame: pd.DataFrame, column: str) -> bytes:
    """Over the csv module's own 131,072-character field limit, in the second data row."""
    frame = frame.copy()
    frame.loc[frame.index[1], column] = "x" * 140_000
    return _csv(frame)


def _random_middle(data: bytes, seed: int, *, no_nul: bool = False) -> bytes:
    noise = random.Random(seed).randbytes(300 * 1024)
    if no_nul:
        noise = noise.replace(b"\x00", b"")
    middle = len(data) // 2
    cut = data.find(b"\n", middle) + 1 or middle  # at a line start when there is one
    return data[:cut] + noise[: 256 * 1024] + data[cut:]


def _truncated(data: bytes) -> bytes:
    """A workbook cut off part way, as an interrupted upload leaves it."""
    return data[: len(data) * 2 // 3]


def _stray_carriage_return(frame: pd.DataFrame, column: str) -> bytes:
    """A lone CR inside an unquoted field, after a blank line that sends the file through
    the csv module (which raised ``csv.Error`` on it)."""
    last = frame.iloc[[-1]].copy()
    last[column] = "STRAY"
    row = last.to_csv(index=False, header=False).replace("STRAY", "a\rb")
    return _csv(frame.iloc[:-1]) + b"\n" + row.encode()


def _story(survey: pd.DataFrame, response_id: str, text: str) -> pd.DataFrame:
    """A consented story from a new respondent in the latest wave."""
    row = survey[survey["wave"] == survey["wave"].max()].iloc[[-1]].copy()
    row[["response_id", "respondent_id"]] = [response_id, f"{response_id}-P"]
    row[["consent_story", "story_text", "story_valence", "story_expected"]] = [
        "yes", text, 0, "no"]  # fmt: skip
    return row


@dataclass(frozen=True)
class Hostile:
    table: str
    site: str | None
    name: str
    make: Callable[[pd.DataFrame], bytes]
    reason: str
    """Words the file's ``.problems.txt`` must hold."""
    status: str = "refused"


HOSTILE: tuple[Hostile, ...] = (
    Hostile("sites", "airedale_care_homes", "airedale sites.xlsx",
            lambda f: entry_larger_than_declared(_workbook("sites", f)),
            "is damaged or was not fully uploaded"),
    Hostile("paradigm_statements", None, "paradigm_statements.csv",
            lambda f: _random_middle(_csv(pd.concat([f] * 40)), 1),
            "is not a text file, so it cannot be a csv file"),
    Hostile("intended_outcomes", "gm_cancer", "gm_cancer outcomes.csv",
            lambda f: _long_cell(f, "statement"),
            "row 3, column statement: '140,000 characters' is longer than the 32,767"),
    Hostile("survey_responses", "royal_free_staff", "royal_free_staff survey.xlsx",
            lambda f: _random_middle(_workbook("survey_responses", f), 2),
            "is damaged or was not fully uploaded"),
    Hostile("comparison_records", "stockport_together", "stockport comparison.csv",
            lambda f: _random_middle(_csv(f), 3, no_nul=True),
            "holds a stretch of data that is not text"),
    Hostile("value_items", "wellbeing_erewash", "erewash values.xlsx",
            lambda f: _truncated(_workbook("value_items", f)),
            "is damaged or was not fully uploaded"),
    Hostile("harvested_outcomes", "morecambe_bay", "morecambe harvested.csv",
            lambda f: _stray_carriage_return(f, "description"),
            "is not a well-formed csv file"),
    Hostile("events", "gm_cancer", "gm_cancer events.csv",
            lambda f: _long_cell(f, "description"),
            "row 3, column description: '140,000 characters'"),
    # an NHS number in a story, and in the file's name: the row is rejected, the number
    # masked wherever the file is named or kept
    Hostile("survey_responses", "gm_cancer", "gm_cancer stories 943 476 5919.csv",
            lambda f: _csv(_story(f, "HOSTILE-2", NHS_STORY)),
            "cell ar2 (story_text): 'my nhs number is [nhs number removed]' looks like an nhs "
            "number, which must never be uploaded", "rejected"),
)  # fmt: skip
assert {h.table for h in HOSTILE} == set(TABLES)


def _hostile_text(site_sheets: dict[str, dict[str, pd.DataFrame]]) -> dict[str, bytes]:
    """Valid rows whose text stopped the renderers (a citation, maths, superscript): loaded,
    and shown as written."""
    survey = _story(site_sheets["gm_cancer"]["survey_responses"], "HOSTILE-1", STORY)
    event = site_sheets["wellbeing_erewash"]["events"].iloc[[-1]].copy()
    # a coming event: the participant page lists it
    event[["event_date", "description"]] = ["2031-01-01", EVENT]
    harvested = site_sheets["airedale_care_homes"]["harvested_outcomes"].iloc[[-1]].copy()
    harvested[["description", "anticipated"]] = [HARVESTED, "no"]
    return {"gm_cancer stories.csv": _csv(survey),
            "wellbeing_erewash events.csv": _csv(event),
            "airedale harvested.csv": _csv(harvested)}  # fmt: skip


@dataclass(frozen=True)
class Night:
    settings: Settings
    run_id: str
    state: State


@pytest.fixture(scope="module")
def night(harness: None, evaluated_sample, tmp_path_factory: pytest.TempPathFactory) -> Night:
    settings, sample_run = evaluated_sample(tmp_path_factory.mktemp("night") / "workspace")
    site_sheets = {site: _sheets(site) for site in SITES}
    for hostile in HOSTILE:
        frame = site_sheets[hostile.site or SITES[0]][hostile.table]
        (settings.inbox_dir / hostile.name).write_bytes(hostile.make(frame))
    for name, content in _hostile_text(site_sheets).items():
        (settings.inbox_dir / name).write_bytes(content)
    real = pipeline.render_one_report

    def breaks_one(settings, run_id, kind, site_id, *args, **kwargs):  # type: ignore[no-untyped-def]
        if pipeline.report_stem(kind, site_id) == BROKEN_REPORT:
            raise RenderError("typesetting the PDF failed: a failure nobody foresaw")
        return real(settings, run_id, kind, site_id, *args, **kwargs)

    real_effects = evaluation.matched_effects

    def fails_for_one_site(records, **kwargs):  # type: ignore[no-untyped-def]
        if set(records["site_id"]) == {FAILING_SITE}:
            raise RuntimeError("matching did not converge")
        return real_effects(records, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "render_one_report", breaks_one)
        patch.setattr(evaluation, "matched_effects", fails_for_one_site)
        state = nightly_evaluation(str(settings.home), return_state=True)
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        run_id = warehouse.latest_run()
    assert run_id is not None
    assert run_id != sample_run  # the hostile text was new data: the models were refitted
    return Night(settings, run_id, state)


def _page_text(path: Path) -> str:
    if path.suffix == ".pdf":
        return "\n".join(page.extract_text() for page in PdfReader(path).pages)
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser").get_text(" ")


def test_every_other_report_is_published_and_the_failed_one_is_named(night: Night) -> None:
    expected = {"programme"} | {f"{kind}-{site}" for kind in ("site", "participant")
                                for site in SITES}  # fmt: skip
    published = {f"{stem}.{fmt}" for stem in expected - {BROKEN_REPORT} for fmt in ("html", "pdf")}
    latest = night.settings.reports_dir / "latest"
    for folder in (night.settings.reports_dir / night.run_id, latest):
        assert {p.name for p in folder.iterdir()} == published, folder
    assert all((latest / name).stat().st_size > 10_000 for name in published)
    assert all((latest / name).read_bytes().startswith(b"%PDF") for name in published
               if name.endswith(".pdf"))  # fmt: skip
    # the run was stored, then ended failed, naming the report and why
    assert night.state.is_failed()
    assert f"run {night.run_id} stored, but these reports failed: {BROKEN_REPORT}" in str(
        night.state.message
    )


def test_each_hostile_file_is_in_failed_with_its_reason(night: Night) -> None:
    inbox = night.settings.inbox_dir
    assert [p.name for p in inbox.iterdir() if p.is_file()] == []  # nothing left waiting
    failed = inbox / "failed"
    for hostile in HOSTILE:
        (moved,) = failed.glob(f"*-{mask_name(hostile.name)}")
        reason = moved.with_name(moved.name + ".problems.txt").read_text(encoding="utf-8")
        assert reason.startswith(f"{mask_name(hostile.name)}: {hostile.status} - "), reason
        assert hostile.reason.casefold() in reason.casefold(), (hostile.name, reason)
    assert len(list(failed.glob("*.problems.txt"))) == len(HOSTILE)
    processed = {p.name.split("-", 1)[1] for p in (inbox / "processed").iterdir()}
    assert processed == {
        "gm_cancer stories.csv",
        "wellbeing_erewash events.csv",
        "airedale harvested.csv",
    }
    with Warehouse(night.settings.warehouse_path, read_only=True) as warehouse:
        ingests = warehouse.ingests()
    for kept in (inbox / "failed").iterdir():  # the NHS number's file: its redacted copy
        assert nhs_number_spans(kept.read_bytes().decode("utf-8", "replace")) == [], kept.name
    refused = ingests[ingests["status"].isin(["refused", "rejected"])]
    assert sorted(refused["original_filename"]) == sorted(mask_name(h.name) for h in HOSTILE)


def test_hostile_text_is_shown_as_written_and_no_nhs_number_is(night: Night) -> None:
    latest = night.settings.reports_dir / "latest"
    for report, value in (("participant-wellbeing_erewash", EVENT),
                          ("site-airedale_care_homes", HARVESTED),
                          ("participant-gm_cancer", STORY), ("site-gm_cancer", STORY)):  # fmt: skip
        for fmt in ("html", "pdf"):
            text = _page_text(latest / f"{report}.{fmt}")
            assert "".join(value.split()) in "".join(text.split()), (report, fmt)
    for path in sorted(latest.iterdir()):
        text = _page_text(path)
        assert nhs_number_spans(text) == [], path.name
        assert "943 476 5919" not in text
    with Warehouse(night.settings.warehouse_path, read_only=True) as warehouse:
        stories = warehouse.current("survey_responses", "gm_cancer")
    (stored,) = stories.loc[stories["response_id"] == "HOSTILE-1", "story_text"]
    assert stored == STORY
    assert "HOSTILE-2" not in set(stories["response_id"])  # the row with the NHS number


def test_the_files_behind_the_hostile_ones_loaded(night: Night) -> None:
    """Every site still has its data and a row in the new run's results."""
    with Warehouse(night.settings.warehouse_path, read_only=True) as warehouse:
        assert sorted(warehouse.current("sites")["site_id"]) == SITES
        results, _ = warehouse.stored_results(night.run_id)
        events = warehouse.current("events", "wellbeing_erewash")
    assert set(results["site_id"]) >= set(SITES)
    assert EVENT in set(events["description"])


def test_one_sites_failing_model_is_recorded_and_the_others_are_stored(night: Night) -> None:
    with Warehouse(night.settings.warehouse_path, read_only=True) as warehouse:
        status, failures = warehouse.con.execute(
            "SELECT status, failures FROM evaluation_runs WHERE run_id = ?", [night.run_id]
        ).fetchone()
        results, _ = warehouse.stored_results(night.run_id)
    assert status == "partly_failed"
    assert FAILING_SITE in failures
    assert "matching did not converge" in failures
    failed = results[results["status"] == "failed"]
    assert failed["site_id"].tolist() == [FAILING_SITE]
    others = results[results["site_id"] == "gm_cancer"]
    assert {"did", "survey_change", "paradigm_index", "empowers", "value_account"} <= set(
        others["kind"]
    )
    # every report is still published, and the failing site's report says what failed
    latest = night.settings.reports_dir / "latest"
    failing = (latest / f"site-{FAILING_SITE}.html").read_text(encoding="utf-8")
    assert (
        f"the models for {FAILING_SITE} failed (RuntimeError: matching did not converge)" in failing
    )
    healthy = (latest / "site-gm_cancer.html").read_text(encoding="utf-8")
    assert "failed" not in healthy.split("Appendix A")[0]
    assert "Effects against matched comparison groups" in healthy
    programme = (latest / "programme.html").read_text(encoding="utf-8")
    assert f"the models for {FAILING_SITE} failed" in programme
