"""The portal in a real browser: Debian's headless Chromium driven by Playwright.

A site coordinator signs in with a token, uploads the sample workbook and sees it
accepted, uploads a broken one and sees every problem listed, drops a file onto the
upload box (the optional script), and opens the report library. Screenshots go to
``tests/artefacts/portal/`` (git-ignored) for a person to look at.

Playwright never downloads a browser here: it drives the system's ``chromium``
(``REVAL_CHROMIUM`` names another). When it is missing this test fails and says how to
install it; ``REVAL_BROWSER_TESTS=optional`` turns that into a skip, unless
``REVAL_REQUIRE_BROWSER=1`` (set by CI) insists.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from reval.config import SAMPLE_DATA_DIR, Settings
from reval.pipeline import ingest_file, init_workspace
from reval.portal.access import TokenStore
from reval.portal.app import running_portal

SITE = "airedale_care_homes"
SITE_NAME = "Airedale care homes"  # pages name the site as the sites table does
ARTEFACTS = Path(__file__).parent / "artefacts" / "portal"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    found = (
        os.environ.get("REVAL_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    if found:
        return found
    message = (
        "The portal's browser test needs Chromium: install Debian's package "
        "(apt-get install chromium) or name a binary with REVAL_CHROMIUM."
    )
    if os.environ.get("REVAL_REQUIRE_BROWSER") != "1" and (
        os.environ.get("REVAL_BROWSER_TESTS") == "optional"
    ):
        pytest.skip(message + " Skipped because REVAL_BROWSER_TESTS=optional.")
    pytest.fail(message + " (Set REVAL_BROWSER_TESTS=optional to skip it on purpose.)")


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Settings]]:
    """A running portal with the catalogue and the sample sites registered."""
    home = tmp_path_factory.mktemp("browser") / "workspace"
    settings = Settings(home=home)
    init_workspace(settings)
    sites = pd.concat(
        pd.read_excel(book, sheet_name="sites", engine="calamine")
        for book in sorted((SAMPLE_DATA_DIR / "workbooks").glob("*.xlsx"))
    )
    sites.to_csv(home.parent / "sites.csv", index=False)
    assert ingest_file(settings, home.parent / "sites.csv").status == "loaded"
    assert ingest_file(settings, SAMPLE_DATA_DIR / "paradigm_statements.csv").status == "loaded"
    latest = settings.reports_dir / "latest"
    latest.mkdir(parents=True)
    (latest / f"site-{SITE}.html").write_text("<h1>Site report</h1>", encoding="utf-8")
    (latest / f"participant-{SITE}.pdf").write_bytes(b"%PDF-1.7\n")
    (latest / "programme.html").write_text("<h1>Programme</h1>", encoding="utf-8")
    token = TokenStore(settings.portal_dir / "tokens.json").create("site", site_id=SITE)
    with running_portal(settings) as base:
        yield base, token, settings


def broken_workbook(path: Path) -> Path:
    """The site's events and intended outcomes with the mistakes coordinators make."""
    book = SAMPLE_DATA_DIR / "workbooks" / f"{SITE}.xlsx"
    events = pd.read_excel(book, sheet_name="events", engine="calamine").astype(object)
    events.loc[1, "phase"] = "growing"
    events.loc[2, "event_date"] = "31/02/2017"
    events.loc[3, "site_id"] = "gm_cancer"
    events["description"] = events["description"] + " (corrected)"
    outcomes = pd.read_excel(book, sheet_name="intended_outcomes", engine="calamine").astype(object)
    outcomes.loc[0, "direction"] = "up"
    with pd.ExcelWriter(path, engine="xlsxwriter") as writer:
        events.to_excel(writer, sheet_name="events", index=False)
        outcomes.to_excel(writer, sheet_name="intended_outcomes", index=False)
    return path


def test_a_coordinator_uploads_in_a_real_browser(
    portal: tuple[str, str, Settings], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    executable = chromium_path()
    base, token, settings = portal
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {ARTEFACTS}")
    console_errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 800}, locale="en-GB")
            page.on(
                "console",
                # HTTP statuses are checked on the pages; anything else (a script or style
                # blocked by the content security policy, a script error) is a failure
                lambda m: (
                    console_errors.append(m.text)
                    if m.type == "error" and not m.text.startswith("Failed to load resource")
                    else None
                ),
            )

            page.goto(base + "/")
            expect(page).to_have_url(base + "/login")
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            page.get_by_label("Access token").fill(token[:-3] + "xyz")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("alert")).to_contain_text("was not recognised")
            page.screenshot(path=ARTEFACTS / "1-login-wrong-token.png", full_page=True)

            page.get_by_label("Access token").fill(token)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", level=1)).to_have_text(
                f"Upload data for {SITE_NAME}"
            )
            page.screenshot(path=ARTEFACTS / "2-upload-page.png", full_page=True)

            workbook = SAMPLE_DATA_DIR / "workbooks" / f"{SITE}.xlsx"
            page.get_by_label("Spreadsheet to upload").set_input_files(workbook)
            page.get_by_role("button", name="Upload and check").click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("Accepted")
            expect(page.get_by_role("status")).to_contain_text("Every row was loaded")
            expect(page.get_by_role("table", name="Rows by table")).to_contain_text(
                "survey_responses"
            )
            page.screenshot(path=ARTEFACTS / "3-accepted.png", full_page=True)

            page.get_by_role("link", name="Upload", exact=True).click()
            broken = broken_workbook(tmp_path / "airedale events fixed.xlsx")
            page.get_by_label("Spreadsheet to upload").set_input_files(broken)
            page.get_by_role("button", name="Upload and check").click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("Partly accepted")
            problems = page.locator("table.problems tbody tr")
            expect(problems).to_have_count(4)
            expect(problems.filter(has_text="growing")).to_contain_text("phase")
            expect(problems.filter(has_text="31/02/2017")).to_contain_text("event_date")
            expect(problems.filter(has_text="gm_cancer")).to_contain_text("another site")
            expect(problems.filter(has_text="intended_outcomes")).to_contain_text("direction")
            expect(
                page.get_by_role("link", name="Download the rows to fix (.xlsx)")
            ).to_be_visible()
            page.screenshot(path=ARTEFACTS / "4-problems.png", full_page=True)
            with page.expect_download() as download_info:
                page.get_by_role("link", name="Download the rows to fix (.xlsx)").click()
            fixes = pd.read_excel(download_info.value.path(), sheet_name=None, engine="calamine")
            rows = [
                len(sheet)
                for name, sheet in fixes.items()
                if name in {"events", "intended_outcomes"}
            ]
            assert sum(rows) == 4

            # the optional script: drop a file onto the box, then upload it
            page.get_by_role("link", name="Upload", exact=True).click()
            expect(page.get_by_role("heading", level=1)).to_have_text(
                f"Upload data for {SITE_NAME}"
            )
            expect(page.locator("[data-drop]")).to_have_attribute("data-ready", "true")
            page.evaluate(
                """() => {
                    const data = new DataTransfer();
                    const text = "site_id,event_date,event_type,phase,description\\n" +
                        "airedale_care_homes,2018-03-01,meeting,adaptation,Dropped-in review\\n";
                    data.items.add(new File([text], "dropped.csv", {type: "text/csv"}));
                    document.querySelector("[data-drop]").dispatchEvent(
                        new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));
                }"""
            )
            assert page.get_by_label("Spreadsheet to upload").evaluate("i => i.files[0].name") == (
                "dropped.csv"
            )
            page.get_by_role("button", name="Upload and check").click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("Accepted")

            page.get_by_role("link", name="Reports", exact=True).click()
            expect(page.get_by_role("heading", name="Reports")).to_be_visible()
            expect(page.locator("main")).to_contain_text(f"Site report: {SITE_NAME}")
            expect(page.locator("main")).not_to_contain_text("Programme report")
            page.screenshot(path=ARTEFACTS / "5-reports.png", full_page=True)
        finally:
            browser.close()
    assert console_errors == []  # e.g. no script or style blocked by the page's CSP
    uploads = [e for e in _audit(settings) if e["event"] == "upload"]
    assert [e["outcome"] for e in uploads] == ["loaded", "partly_loaded", "loaded"]


def _audit(settings: Settings) -> list[dict[str, object]]:
    from reval.portal.security import AuditLog

    return AuditLog(settings.portal_dir / "audit.log").entries()


def fix_as_the_notes_say(path: Path, out: Path) -> list[str]:
    """What a coordinator does with the fix-up workbook: read each red cell's note and do
    what it says (pick an allowed answer, write the date the right way, write the site the
    note names). Returns what was changed, cell by cell."""
    import openpyxl

    book = openpyxl.load_workbook(path)
    changed = []
    for sheet in book.worksheets:
        if sheet.sheet_state == "hidden" or sheet.title == "how to use this":
            continue
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                if cell.comment is None:
                    continue
                note = cell.comment.text
                if match := re.search(r"so write (\S+) here", note):
                    new = match[1]
                elif match := re.search(r"write one of: ([^.;]+)", note):
                    new = match[1].split(", ")[0]
                elif "is not a date" in note:
                    new = "01/03/2017"
                else:
                    raise AssertionError(f"a note the test does not know how to follow: {note}")
                changed.append(f"{sheet.title}!{cell.coordinate}: {cell.value!r} -> {new!r}")
                cell.value = new
    book.save(out)
    return changed


def test_a_coordinator_fixes_a_file_in_one_pass_in_a_real_browser(
    portal: tuple[str, str, Settings], tmp_path: Path
) -> None:
    """Upload a broken workbook, download the rows to fix, fix them exactly as the notes
    say (openpyxl standing in for Excel), upload that file: accepted, nothing new to fix."""
    from playwright.sync_api import expect, sync_playwright

    executable = chromium_path()
    base, token, _settings = portal
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 800}, locale="en-GB")
            page.goto(base + "/login")
            page.get_by_label("Access token").fill(token)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", level=1)).to_have_text(
                f"Upload data for {SITE_NAME}"
            )

            broken = broken_workbook(tmp_path / "airedale one pass.xlsx")
            page.get_by_label("Spreadsheet to upload").set_input_files(broken)
            page.get_by_role("button", name="Upload and check").click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("Partly accepted")
            problems = page.locator("table.problems tbody tr")
            expect(problems).to_have_count(4)
            expect(problems.filter(has_text="gm_cancer")).to_contain_text(
                "write airedale_care_homes"
            )
            page.screenshot(path=ARTEFACTS / "6-one-pass-problems.png", full_page=True)

            with page.expect_download() as download_info:
                page.get_by_role("link", name="Download the rows to fix (.xlsx)").click()
            to_fix = tmp_path / "to fix.xlsx"
            download_info.value.save_as(to_fix)
            fixed = tmp_path / "airedale fixed.xlsx"
            changed = fix_as_the_notes_say(to_fix, fixed)
            print("\nfixed as the notes said:", *changed, sep="\n  ")
            assert len(changed) == 4

            page.get_by_role("link", name="Upload", exact=True).click()
            page.get_by_label("Spreadsheet to upload").set_input_files(fixed)
            page.get_by_role("button", name="Upload and check").click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("Accepted")
            expect(page.get_by_role("status")).to_contain_text("Every row was loaded")
            expect(page.locator("table.problems")).to_have_count(0)
            page.screenshot(path=ARTEFACTS / "7-one-pass-accepted.png", full_page=True)

            # the history says when each file came and links to what became of it
            page.get_by_role("link", name="airedale one pass.xlsx").first.click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("Partly accepted")
            expect(page.get_by_role("status")).to_contain_text("Received")
            page.screenshot(path=ARTEFACTS / "8-one-pass-history.png", full_page=True)
        finally:
            browser.close()
