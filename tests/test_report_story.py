"""One story across the reports: every number a report states for a site and a measure -
in sentences, tables and alt text - is the stored result for the wave it names; no
section is left empty; PDF table rows never share a line. Checked on the sample
programme and on a second programme (another seed, dropout that depends on wellbeing)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from reval.config import Settings
from reval.pipeline import evaluate, load_sample_data, render_reports
from reval.reporting import content
from reval.synthetic_programme import synthetic_programme, write_sample_data
from reval.warehouse import Warehouse
from tests.conftest import RENDERED_SITE as SITE

NUMBER = r"[−-]?\d+(?:\.\d+)?"
SITE_NAMES: dict[str, str] = {}


def _render(settings: Settings, sample_dir: Path) -> tuple[Settings, str]:
    load_sample_data(settings, sample_dir)
    run_id, _ = evaluate(settings)
    assert not render_reports(settings, run_id, site_id=SITE).failed
    return settings, run_id


def _story(settings: Settings, run_id: str) -> dict:
    written = {p.name: p for p in (settings.reports_dir / run_id).iterdir()}
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        results, intended = warehouse.stored_results(run_id)
        sites = warehouse.con.execute("SELECT site_id, site_name FROM current_sites").df()
        written_by_sites = warehouse.current("intended_outcomes")
    # reports name an intended outcome by the statement its site wrote, not its code
    statements = written_by_sites[["site_id", "outcome_id", "statement"]]
    intended = intended.merge(statements, on=["site_id", "outcome_id"], how="left")
    intended["shown"] = intended["statement"].fillna(intended["outcome_id"])
    return {"written": written, "results": results, "intended": intended, "sites": sites}


@pytest.fixture(scope="module", params=["sample", "second"])
def story(request, tmp_path_factory, rendered_sample) -> dict:
    home = tmp_path_factory.mktemp(f"story-{request.param}")
    if request.param == "sample":  # the session's rendered sample: the same three reports
        return _story(*rendered_sample(home / "workspace"))
    sample_dir = home / "second_programme"
    write_sample_data(synthetic_programme(seed=2024, dropout_on_wellbeing=1.0), sample_dir)
    return _story(*_render(Settings(home=home / "workspace"), sample_dir))


def _soup(story: dict, name: str) -> BeautifulSoup:
    return BeautifulSoup(story["written"][name].read_text(encoding="utf-8"), "html.parser")


def _num(text: str) -> float:
    return float(text.replace("−", "-"))


def _row(
    story: dict, site: str, measure: str, wave: int | None, kinds=content.CHANGE_KINDS
) -> pd.Series:
    """The one stored row of a site, measure and wave (None: a matched estimate's, no wave)."""
    results = story["results"]
    waves = results["wave"].isna() if wave is None else results["wave"] == wave
    rows = results[(results["site_id"] == site) & (results["measure"] == measure)
                   & waves & results["kind"].isin(kinds)]  # fmt: skip
    assert len(rows) == 1, (site, measure, wave, kinds)
    return rows.iloc[0]


def _site_id(story: dict, shown: str) -> str:
    if shown == "All sites":
        return "all"
    names = dict(zip(story["sites"]["site_name"], story["sites"]["site_id"], strict=True))
    return names.get(shown, shown)


def _shown(text: str) -> str:
    """A printed number, minus signs as "-" and "-0.00" as "0.00" (reports print no minus zero)."""
    text = text.replace("−", "-")
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _f(value: float, digits: int = 2) -> str:
    return _shown(f"{value:.{digits}f}")


def _matches(row: pd.Series, estimate: str, low: str, high: str, digits: int = 2) -> None:
    assert (_f(abs(row["estimate"]), digits) == _shown(estimate).lstrip("-")
            or _f(row["estimate"], digits) == _shown(estimate)), (row, estimate)  # fmt: skip
    assert _f(row["ci_low"], digits) == _shown(low), (row, low)
    assert _f(row["ci_high"], digits) == _shown(high), (row, high)


MEASURES_BY_NAME = {content.measure_name(m): m for m in content.HEADLINE_MEASURES}
PLAIN_BY_WORDS = {words: m for m, words in content.PLAIN_MEASURES.items()}


def _sentence_checks(story: dict, text: str, site: str) -> int:
    """Summary sentences: '<measure> rose by X points from baseline to wave W (95% interval
    L to H; N people answered both)'."""
    names = "|".join(re.escape(n) for n in MEASURES_BY_NAME)
    pattern = re.compile(
        rf"({names}) [^.;]*?by ({NUMBER}) points from baseline to wave (\d+) "
        rf"\(95% interval ({NUMBER}) to ({NUMBER}); (\S+) people answered both\)"
    )
    found = 0
    for name, x, wave, low, high, people in pattern.findall(text):
        row = _row(story, site, MEASURES_BY_NAME[name], int(wave))
        _matches(row, x, low, high)
        assert people == content.count_text(row["n"])
        found += 1
    return found


def _first_screen_checks(story: dict, text: str, site: str) -> int:
    """'... from the baseline survey to wave W: wellbeing rose by X points (...), ...'."""
    found = 0
    for wave, body in re.findall(r"to wave (\d+): (.*?)(?=; to wave|; \d+ of \d+ intended)", text):
        for words, x in re.findall(
            rf"({'|'.join(PLAIN_BY_WORDS)}) [^,;]*?by ({NUMBER}) points", body
        ):
            row = _row(story, site, PLAIN_BY_WORDS[words], int(wave))
            assert f"{abs(row['estimate']):.2f}" == x, (site, words, wave, row)
            found += 1
    return found


def _table_checks(story: dict, soup: BeautifulSoup, site: str | None) -> int:
    """Every table row naming a site (or the report's own site), a measure and a wave or
    data source: its numbers are that stored row's."""
    found = 0
    for table in soup.find_all("table"):
        header = [th.get_text(strip=True) for th in table.find_all("th")]
        for tr in table.find_all("tr"):
            cells = [td.get_text(strip=True) for td in tr.find_all("td")]
            if not cells:
                continue
            row = dict(zip(header, cells, strict=True))
            where = _site_id(story, row["Site"]) if "Site" in row else site
            if "Change" in row and "Wave" in row and row.get("Measure") in MEASURES_BY_NAME:
                stored = _row(story, where, MEASURES_BY_NAME[row["Measure"]], int(row["Wave"]))
                low, high = row["95% interval"].split(" to ")
                _matches(stored, row["Change"], low, high)
                assert row["People"] == content.count_text(stored["n"])
                found += 1
            if "Followed up" in row:
                stored = _row(story, where, MEASURES_BY_NAME[row["Measure"]], int(row["Wave"]))
                assert row["Followed up"] == content.count_text(stored["n"])
                kept = _row(story, where, MEASURES_BY_NAME[row["Measure"]], int(row["Wave"]),
                            kinds=("retention",))  # fmt: skip
                assert row["At baseline"] == content.count_text(kept["n"])
                assert row["Retained"] == f"{100 * kept['estimate']:.0f}%"
                found += 1
            if (
                "Change, people seen twice" in row
                and row["Change, people seen twice"] != "not estimated"
            ):
                stored = _row(story, where, MEASURES_BY_NAME[row["Measure"]], int(row["Wave"]))
                est, low, high = re.match(rf"({NUMBER}) \(({NUMBER}) to ({NUMBER})\)",
                                          row["Change, people seen twice"]).groups()  # fmt: skip
                _matches(stored, est, low, high)
                found += 1
            if "Verdict" in row:
                found += _intended_row(story, where, row)
    return found


def _intended_row(story: dict, site: str, row: dict) -> int:
    intended = story["intended"]
    stored = intended[(intended["site_id"] == site) & (intended["shown"] == row["Outcome"])]
    assert len(stored) == 1, (site, row)
    stored = stored.iloc[0]
    assert row["Verdict"] == stored["classification"]
    data = row["Data"]
    if data.startswith("survey wave"):
        assert int(data.rsplit(" ", 1)[1]) == int(stored["wave"])
        source = _row(story, site, stored["measure"], int(stored["wave"]),
                      kinds=("survey_change", "paradigm_index", "empowers"))  # fmt: skip
    else:
        assert data == "matched groups"
        results = story["results"]
        source = results[(results["site_id"] == site) & (results["measure"] == stored["measure"])
                         & (results["kind"] == "did")].iloc[0]  # fmt: skip
    sign = -1.0 if stored["direction"] == "decrease" else 1.0
    shown = row["Change (95% interval)"]
    if shown == "not estimated":
        return 1
    est, low, high = re.match(rf"({NUMBER}) \(({NUMBER}) to ({NUMBER})\)", shown).groups()
    assert _f(sign * source["estimate"]) == _shown(est)
    ends = sorted([sign * source["ci_low"], sign * source["ci_high"]])
    assert (_f(ends[0]), _f(ends[1])) == (_shown(low), _shown(high))
    return 1


def _unintended_checks(story: dict, soup: BeautifulSoup, site: str | None) -> int:
    """'<site name>: <measure> changed clearly although no intended outcome named it - a
    change for the better: est (low to high), survey wave W' (or 'matched groups')."""
    results = story["results"]
    by_name = {content.measure_name(m): m for m in results["measure"].dropna().unique()}
    names = "|".join(re.escape(n) for n in sorted(by_name, key=len, reverse=True))
    sites = "|".join(re.escape(n) for n in story["sites"]["site_name"])
    pattern = re.compile(
        rf"(?:({sites}): )?({names}) changed clearly although no intended outcome named it - a "
        rf"change for the (?:better|worse): ({NUMBER}) \(({NUMBER}) to ({NUMBER})\), "
        rf"(?:survey wave (\d+)|(matched groups))"
    )
    found = 0
    for item in soup.find_all("li"):
        match = pattern.fullmatch(" ".join(item.get_text(" ").split()))
        if not match:
            continue
        shown, name, est, low, high, wave, matched = match.groups()
        where = _site_id(story, shown) if shown else site
        if matched:
            stored = _row(story, where, by_name[name], None, kinds=("did",))
        else:
            stored = _row(story, where, by_name[name], int(wave),
                          kinds=("survey_change", "paradigm_index", "empowers"))  # fmt: skip
        _matches(stored, est, low, high)
        found += 1
    return found


def _alt_checks(story: dict, soup: BeautifulSoup, site: str | None) -> int:
    """Forest-plot alt text: '<site - ><measure> (wave W) est (low to high)'."""
    names = "|".join(re.escape(n) for n in MEASURES_BY_NAME)
    # sites are named as readers know them (names have spaces), "All sites" for the pooled
    shown_sites = sorted([*story["sites"]["site_name"], "All sites"], key=len, reverse=True)
    sites = "|".join(re.escape(n) for n in shown_sites)
    found = 0
    for img in soup.find_all("img"):
        alt = img.get("alt", "")
        pattern = rf"(?:({sites}) - )?({names})(?: \(wave (\d+)\))? ({NUMBER}) \(({NUMBER}) to ({NUMBER})\)"
        for shown, name, wave, est, low, high in re.findall(pattern, alt):
            measure = MEASURES_BY_NAME[name]
            where = _site_id(story, shown) if shown else site
            if not wave:  # one wave in the figure: the only one stored for that site
                results = story["results"]
                waves = results[(results["site_id"] == where) & (results["measure"] == measure)
                                & results["kind"].isin(content.CHANGE_KINDS)]["wave"]  # fmt: skip
                assert waves.nunique() == 1
                wave = waves.iloc[0]
            _matches(_row(story, where, measure, int(wave)), est, low, high)
            found += 1
    return found


def test_every_number_for_a_site_and_measure_is_the_stored_row_of_its_wave(story) -> None:
    programme = _soup(story, "programme.html")
    site = _soup(story, f"site-{SITE}.html")
    text = programme.get_text(" ")
    checked = {
        "programme sentences": _sentence_checks(story, text, "all"),
        "programme first screen": _first_screen_checks(story, text, "all"),
        "programme tables": _table_checks(story, programme, None),
        "programme alt text": _alt_checks(story, programme, None),
        "programme unintended": _unintended_checks(story, programme, None),
        "site sentences": _sentence_checks(story, site.get_text(" "), SITE),
        "site first screen": _first_screen_checks(story, site.get_text(" "), SITE),
        "site tables": _table_checks(story, site, SITE),
        "site alt text": _alt_checks(story, site, SITE),
        "site unintended": _unintended_checks(story, site, SITE),
    }
    assert all(n > 0 for n in checked.values()), checked


def test_retention_is_shown_per_site_and_for_all_sites(story) -> None:
    """'Who stayed in the survey': every site and all sites together in the programme
    report (their numbers are checked against the stored rows above), the site's own
    follow-up waves in its report."""
    for name, expected in (
        ("programme.html", {*story["sites"]["site_name"], "All sites"}),
        (f"site-{SITE}.html", None),
    ):
        soup = _soup(story, name)
        table = next(t for t in soup.find_all("table")
                     if "Retained" in [th.get_text(strip=True) for th in t.find_all("th")])  # fmt: skip
        header = [th.get_text(strip=True) for th in table.find_all("th")]
        rows = [dict(zip(header, [td.get_text(strip=True) for td in tr.find_all("td")], strict=True))
                for tr in table.find_all("tr") if tr.find_all("td")]  # fmt: skip
        assert all(r["Retained"].endswith("%") for r in rows)
        if expected is None:  # the site's report: one row per measure and follow-up wave
            results = story["results"]
            mine = results[(results["site_id"] == SITE) & (results["kind"] == "retention")]
            assert len(rows) == len(mine) > 0
        else:
            assert {r["Site"] for r in rows} == expected


def test_participant_summary_says_the_same_row_in_plain_words(story) -> None:
    """'Wellbeing (scored from 7 to 35) went up by about X points between the first survey
    and the third' is the wave-2 row, rounded; the picture's alt text is the same row."""
    soup = _soup(story, f"participant-{SITE}.html")
    text = " ".join(soup.get_text(" ").split())
    ordinals = {word: i for i, word in enumerate(content.ORDINALS)}
    lines = re.findall(rf"(Wellbeing|Loneliness|Agreement with the new ways of thinking about health) "
                       rf"\(([^)]*)\) went (?:up|down) by about ({NUMBER}) points between the first survey "
                       rf"and the (\w+) .*?between ({NUMBER})( points down)? and ({NUMBER})"
                       rf"( points (?:down|up))?\)", text)  # fmt: skip
    assert len(lines) == 3
    assert "between -" not in text  # sizes of a fall are said as "points down", no minus signs
    waves = {}
    for words, scale, x, nth, first, first_down, second, second_side in lines:
        measure = PLAIN_BY_WORDS[words.lower()]
        assert scale == content.SCALE_RANGES[measure]
        row = _row(story, SITE, measure, ordinals[nth])
        waves[measure] = ordinals[nth]
        if second_side == " points down":  # a fall: 'between 0.7 and 1.1 points down'
            low, high = f"-{second}", f"-{first}"
        elif first_down:  # 'between 0.8 points down and 0.2 points up'
            low, high = f"-{first}", second
        else:
            low, high = first, second
        _matches(row, x, low, high, digits=1)
    alt = next(i["alt"] for i in soup.find_all("img") if i["alt"].startswith("Bar chart of change"))
    for label, measure in (("Wellbeing", "swemwbs"), ("Loneliness", "ucla3")):
        est, low, high = re.search(rf"{label} \([^)]*\) ([+]?{NUMBER}) \(likely ({NUMBER}) to ({NUMBER})\)",
                                   alt).groups()  # fmt: skip
        row = _row(story, SITE, measure, waves[measure])
        assert f"{row['estimate']:+.1f}" == est.replace("−", "-")
        assert (f"{row['ci_low']:.1f}", f"{row['ci_high']:.1f}") == (low, high)
    # every EMPOWERS behaviour in plain words, every scale with its range
    for words in content.EMPOWERS_WORDS.values():
        assert words.capitalize() in text
    assert "mobilises" not in text.replace("\u201cmobilises\u201d", "")
    assert "Wave 0" not in text
    assert "\\" not in text  # nothing escaped twice (a "\\(" once showed on the page)


@pytest.mark.parametrize(
    "name", ["programme.html", f"site-{SITE}.html", f"participant-{SITE}.html"]
)
def test_no_section_is_empty(story, name: str) -> None:
    """Every h2 and h3 is followed by something before the next heading."""
    soup = _soup(story, name)
    headings = soup.find_all(["h2", "h3"])
    assert headings
    for heading in headings:
        following = []
        for element in heading.find_all_next():
            if element.name in {"h1", "h2", "h3"}:
                break
            if element.name in {"p", "li", "table", "img"} and (
                element.get_text(strip=True) or element.name == "img"
            ):
                following.append(element)
        assert following, f"{name}: section '{heading.get_text(strip=True)}' is empty"


@pytest.mark.parametrize("name", ["programme.pdf", f"site-{SITE}.pdf"])
def test_pdf_table_rows_never_share_a_line(story, name: str) -> None:
    """pdftotext -layout puts each table row on its own line(s): a line holding the first
    cells of two rows means rows were printed over each other or a cell ran into the next.
    And no word is printed over another (pdftotext -bbox: no two word boxes overlap), which
    catches rows squeezed onto each other that -layout would spread over odd lines."""
    assert _overprinted_words(story["written"][name]) == [], name
    text = subprocess.run(["pdftotext", "-layout", str(story["written"][name]), "-"],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    html = _soup(story, name.replace(".pdf", ".html"))
    # the first cells of each table's rows, table by table: a site's name is the first cell
    # of one table's rows and the second of another's (the files table: file, then site)
    tables = []
    for table in html.find_all("table"):
        firsts = set()
        for tr in table.find_all("tr"):
            cells = [td.get_text(strip=True) for td in tr.find_all("td")]
            if len(cells) > 2 and len(cells[0]) > 3:
                firsts.add(cells[0])
        if firsts:
            tables.append(firsts)
    assert tables
    first_cells = set().union(*tables)
    for line in text.splitlines():
        fields = [f for f in re.split(r"\s{2,}", line.strip()) if f]
        for firsts in tables:
            starts = [f for f in fields if f in firsts]
            assert len(starts) <= 1, f"{name}: two table rows on one line: {line!r}"
        # a cell that ran into its neighbour shows as a first cell glued to more text
        assert not any(
            f != c and f.startswith(c) and not f[len(c)].isspace() and f[len(c)] not in ".,;:)"
            for f in fields
            for c in first_cells
            if len(c) > 8
        ), f"{name}: a cell ran into the next column: {line!r}"


def _overprinted_words(pdf: Path) -> list[tuple[int, str, str]]:
    """(page, word, word) for every two words whose boxes overlap by more than a fifth of
    the smaller one: text printed over text. Figures are images, so only text counts."""
    xml = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    found = []
    for number, page in enumerate(BeautifulSoup(xml, "html.parser").find_all("page"), start=1):
        boxes = sorted((float(w["ymin"]), float(w["ymax"]), float(w["xmin"]), float(w["xmax"]),
                        w.get_text()) for w in page.find_all("word"))  # fmt: skip
        for i, (top, bottom, left, right, word) in enumerate(boxes):
            for top2, bottom2, left2, right2, other in boxes[i + 1 :]:
                if top2 >= bottom:  # sorted by top: nothing further down can overlap
                    break
                width = min(right, right2) - max(left, left2)
                height = min(bottom, bottom2) - max(top, top2)
                smaller = min((right - left) * (bottom - top), (right2 - left2) * (bottom2 - top2))
                if width > 0 and height > 0 and width * height > 0.2 * smaller:
                    found.append((number, word, other))
    return found
