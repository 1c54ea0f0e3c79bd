"""What the reports say: stored results and current data in, display-ready frames and plain
sentences out. Pure (no files, no database); disclosure control is applied here, so a
report source cannot forget it.

Counts of people, rows or items are always shown through :func:`count_text`: a count of
1-4 becomes "<5" wherever it appears.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import pandas as pd

from reval.contract import Instrument, instrument_registry
from reval.intended import CLEAR_VERDICTS, DEFAULT_MARGIN_SHARE, VERDICT_RULES, VERDICTS
from reval.programme import DEFAULT_INSTRUMENTS
from reval.reporting.disclosure import SUPPRESSED, THRESHOLD, suppress_counts
from reval.revaluation import KINDS, VISIBILITY, moved_to_visible, six_box_grid

Scope = Literal["programme", "site"]

MEASURE_NAMES: Final[dict[str, str]] = {
    "paradigm_index": "Paradigm index (new minus old agreement)",
    "ae_visits": "A&E visits",
    "gp_contacts": "GP contacts",
    "admissions": "Hospital admissions",
    "wellbeing": "Wellbeing (GP record)",
}
"""Names of the measures that are not instruments' (instruments name theirs in the registry,
schemas/instruments.yaml)."""
PARADIGM_WORDS: Final[str] = "agreement with the new ways of thinking about health"
PARADIGM_RANGE: Final[str] = "scored from -4 to 4"
"""The paradigm index in plain words: mean agreement (1-5) with new-paradigm statements
minus old, so -4 to 4 in every programme."""
REASONS_IN_WORDS: Final[dict[str, str]] = {
    "missing_value": "a required answer was blank",
    "wrong_type": "a value was not the expected kind (number, date, text)",
    "not_allowed": "a value was not one of the allowed options",
    "not_on_scale": "an answer was not on the question's scale",
    "out_of_range": "a number was outside the allowed range",
    "bad_format": "a date or code was written in a form reval cannot read for sure",
    "too_long": "a text was too long",
    "duplicate_key": "the same record appeared twice",
    "rule_broken": "a rule linking columns was broken",
    "unknown_site": "the site was not registered",
    "unknown_item": "a paradigm statement was not in the catalogue",
    "unknown_measure": "an intended outcome named an unknown measure",
    "personal_identifier": "a personal identifier (e.g. NHS number) was found and removed",
    "wrong_site": "the rows belonged to another site",
    "missing_column": "a required column was missing",
}
PHASES: Final[tuple[str, ...]] = (
    "enduring_crisis", "emergence", "impact_formalisation", "adaptation", "decline",
)  # fmt: skip


def count_text(n: object, threshold: int = THRESHOLD) -> str:
    """A count as readers may see it: 1-4 become "<5"."""
    if n is None or (isinstance(n, float) and math.isnan(n)) or n is pd.NA:
        return "-"
    if isinstance(n, str):
        return n
    value = int(n)  # type: ignore[call-overload]
    return SUPPRESSED if 0 < value < threshold else str(value)


def interval_text(estimate: float, low: float, high: float, digits: int = 2) -> str:
    if any(pd.isna(v) for v in (estimate, low, high)):
        return "not estimated"
    return f"{number_text(estimate, digits)} ({number_text(low, digits)} to {number_text(high, digits)})"


def number_text(value: float, digits: int = 2) -> str:
    """A number as reports print it: no "-0.00" for a tiny negative that rounds to zero."""
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def use_instruments(instruments: Iterable[Instrument]) -> None:
    """Name the measures of a programme's own instruments (the registry's are known)."""
    for instrument in instruments:
        _INSTRUMENTS[instrument.key] = instrument


_INSTRUMENTS: dict[str, Instrument] = {}


def _instrument_of(measure: str) -> Instrument | None:
    known = {**instrument_registry(), **_INSTRUMENTS}
    return next((i for i in known.values() if measure in i.measures), None)


def use_site_names(names: dict[str, str]) -> None:
    """Name sites by the sites table's site_name wherever a report shows a site."""
    _SITE_NAMES.clear()
    _SITE_NAMES.update(names)


_SITE_NAMES: dict[str, str] = {}


def use_wave_names(names: Mapping[int, str]) -> None:
    """Say waves by the names the programme file gives them (``waves:``)."""
    _WAVE_NAMES.clear()
    _WAVE_NAMES.update({int(k): str(v) for k, v in names.items()})


_WAVE_NAMES: dict[int, str] = {}


def wave_words(wave: object) -> str:
    """A wave as sentences name it: the programme's name for it, else "wave N" (wave 0:
    "baseline")."""
    number = int(wave)  # type: ignore[call-overload]
    return _WAVE_NAMES.get(number) or ("baseline" if number == 0 else f"wave {number}")


def wave_label(wave: object) -> str:
    """A wave in a figure's labels: its name, else "wave N" (wave 0 too)."""
    number = int(wave)  # type: ignore[call-overload]
    return _WAVE_NAMES.get(number) or f"wave {number}"


def wave_cell(wave: object) -> str:
    """A wave in a table's Wave column: its name when the programme gives one, else its number."""
    if wave is None or pd.isna(wave):  # type: ignore[arg-type]
        return "-"
    return _WAVE_NAMES.get(int(wave), str(int(wave)))  # type: ignore[call-overload]


def survey_of(wave: int) -> str:
    """A follow-up survey in a sentence: "the one year survey", else "wave N"."""
    return f"the {_WAVE_NAMES[wave]} survey" if wave in _WAVE_NAMES else f"wave {wave}"


def site_label(site_id: object) -> object:
    """A site as readers see it: its name ("All sites" for the pooled rows); codes stay in
    machine output only."""
    if site_id == "all":
        return "All sites"
    return _SITE_NAMES.get(str(site_id), site_id) if isinstance(site_id, str) else site_id


def measure_name(measure: str) -> str:
    """A measure as readers see it: the instrument's display name (and the item's label)."""
    if measure in MEASURE_NAMES:
        return MEASURE_NAMES[measure]
    instrument = _instrument_of(measure)
    if instrument is not None:
        return instrument.measure_name(measure)
    if measure.startswith("emp_"):
        return f"EMPOWERS: {measure.removeprefix('emp_')}"
    return measure.replace("_", " ")


@dataclass(frozen=True)
class ReportInputs:
    """Everything one report shows, read in one go from the warehouse (see
    ``reval.pipeline.report_inputs``). Survey answers arrive already aggregated: no
    respondent-level row reaches a report."""

    run_id: str
    site_id: str | None
    sites: pd.DataFrame
    results: pd.DataFrame
    intended: pd.DataFrame
    balance: pd.DataFrame
    unintended: pd.DataFrame
    statement_shares: pd.DataFrame
    empowers: pd.DataFrame
    value_items: pd.DataFrame
    events: pd.DataFrame
    stories: pd.DataFrame
    files: pd.DataFrame
    rejections: pd.DataFrame
    failures: list[dict[str, str]] = field(default_factory=list)
    finished_at: str = ""
    title: str = "Health as a Social Movement"
    """The programme's title (its programme file's ``title``)."""
    instruments: tuple[str, ...] = ()
    """Keys of the instruments the programme's survey asks (its programme file's)."""

    @property
    def asks_empowers(self) -> bool:
        """Whether the survey asks EMPOWERS at all: a report then says 'not asked' rather
        than 'no answers yet' when there are none."""
        return "empowers" in self.instruments

    @property
    def site_ids(self) -> list[str]:
        return sorted(self.sites["site_id"]) if self.site_id is None else [self.site_id]

    def site_name(self, site_id: str) -> str:
        names = dict(zip(self.sites["site_id"], self.sites["site_name"], strict=True))
        return str(names.get(site_id, site_id))


def with_site_names(table: pd.DataFrame, inputs: ReportInputs) -> pd.DataFrame:
    """A table's Site column as site names ("all" as "All sites"): names wrap in a narrow
    PDF column where a long site code cannot, and readers know the names."""
    if "Site" not in table:
        return table
    names = table["Site"].map(lambda s: "All sites" if s == "all" else inputs.site_name(str(s)))
    return table.assign(Site=names)


# --- aggregation of survey answers (runs before anything reaches a report) ---------------


def statement_shares(
    counts: pd.DataFrame, statements: pd.DataFrame, threshold: int = THRESHOLD
) -> pd.DataFrame:
    """Disagree / neither / agree shares of each paradigm statement per site and wave,
    from the run's ``agreement_counts``.

    Disclosure: a disagree or agree group of 1-4 people is folded into "neither" (the
    figure says so); if "neither" is then still 1-4 people, or the whole group is under
    the threshold, the bar is withheld.
    """
    rows = []
    for r in counts.itertuples():
        shown_counts = {
            "disagree": int(r.disagree),
            "neither": int(r.neither),
            "agree": int(r.agree),
        }
        folded = False
        for side in ("disagree", "agree"):
            if 0 < shown_counts[side] < threshold:
                shown_counts["neither"] += shown_counts[side]
                shown_counts[side] = 0
                folded = True
        people = sum(shown_counts.values())
        shown = people >= threshold and not (0 < shown_counts["neither"] < threshold)
        rows.append({"site_id": r.site_id, "wave": int(r.wave), "item": r.item, "people": people,
                     "shown": shown, "folded": folded,
                     **{k: (v / people if shown else math.nan) for k, v in shown_counts.items()}})  # fmt: skip
    frame = pd.DataFrame(rows, columns=["site_id", "wave", "item", "people", "shown", "folded",
                                        "disagree", "neither", "agree"])  # fmt: skip
    return frame.merge(statements[["item", "statement", "paradigm"]], on="item", how="left")


def empowers_means(profile: pd.DataFrame, threshold: int = THRESHOLD) -> pd.DataFrame:
    """The run's EMPOWERS profile with means resting on fewer than 5 people withheld."""
    profile = profile.copy()
    small = profile["n"] < threshold
    profile.loc[small, ["mean", "ci_low", "ci_high"]] = math.nan
    return profile


def consented_story_rows(responses: pd.DataFrame) -> pd.DataFrame:
    """Stories whose teller agreed to share them: text, valence and wave only."""
    has = responses["story_text"].notna() & (responses["consent_story"] == "yes")
    columns = ["site_id", "wave", "story_text", "story_valence", "story_expected"]
    return responses.loc[has, columns].reset_index(drop=True)


# --- tables and sentences ------------------------------------------------------------------


def change_table(results: pd.DataFrame, kinds: tuple[str, ...] = ("survey_change", "paradigm_index")
                 ) -> pd.DataFrame:  # fmt: skip
    """Change from baseline per site, measure and wave, with interval and people counted."""
    rows = by_site_name(results[results["kind"].isin(kinds)], ["measure", "site", "wave"])
    return pd.DataFrame({
        "Site": rows["site_id"].map(site_label),
        "Measure": rows["measure"].map(measure_name),
        "Wave": rows["wave"].map(wave_cell),
        "Change": rows["estimate"].map(_fmt),
        "95% interval": [_ci(lo, hi) for lo, hi in zip(rows["ci_low"], rows["ci_high"], strict=True)],
        "People": rows["n"].map(count_text),
    }).reset_index(drop=True)  # fmt: skip


def by_site_name(rows: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Rows sorted by ``order``, where "site" means the site as readers see it: all sites
    together first, then the sites by name (a sort by code put "All sites" and the sites'
    names in an order readers could not follow). Ties keep their order."""
    sort = rows.assign(site=["" if s == "all" else str(site_label(s)) for s in rows["site_id"]])
    return sort.sort_values(order, kind="stable").drop(columns="site")


def attrition_tables(results: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Who stayed (baseline people, followed up, retention per site and wave) and whether
    leaving could bend the change (stayers minus leavers at baseline; completers' change
    beside the change weighted for who stayed). Followed-up people and the completers'
    change are the survey-change rows themselves, so each number is said once."""
    key = ["site_id", "measure", "wave"]
    retention = by_site_name(results[results["kind"] == "retention"], ["site", "measure", "wave"])
    retention = retention.set_index(key)
    if retention.empty:
        return pd.DataFrame(), pd.DataFrame()
    change = results[results["kind"] == "survey_change"].set_index(key).reindex(retention.index)
    leavers = (
        results[results["kind"] == "stayers_vs_leavers"].set_index(key).reindex(retention.index)
    )
    weighted = results[results["kind"] == "ipw_change"].set_index(key).reindex(retention.index)
    index = retention.index.to_frame(index=False)
    who = pd.DataFrame({
        "Site": index["site_id"].map(site_label),
        "Measure": index["measure"].map(measure_name),
        "Wave": index["wave"].map(wave_cell),
        "At baseline": retention["n"].map(count_text).to_numpy(),
        "Followed up": change["n"].map(count_text).to_numpy(),
        "Retained": [("-" if pd.isna(v) else f"{100 * v:.0f}%") for v in retention["estimate"]],
    })  # fmt: skip
    risk = pd.DataFrame({
        "Site": index["site_id"].map(site_label),
        "Measure": index["measure"].map(measure_name),
        "Wave": index["wave"].map(wave_cell),
        "Stayers minus leavers at baseline": [
            interval_text(e, lo, hi) for e, lo, hi in
            zip(leavers["estimate"], leavers["ci_low"], leavers["ci_high"], strict=True)],
        "Change, people seen twice": [
            interval_text(e, lo, hi) for e, lo, hi in
            zip(change["estimate"], change["ci_low"], change["ci_high"], strict=True)],
        "Change weighted for who stayed": [
            interval_text(e, lo, hi) for e, lo, hi in
            zip(weighted["estimate"], weighted["ci_low"], weighted["ci_high"], strict=True)],
        "Attrition bias": ["at risk" if isinstance(m, str) and m.startswith("at risk") else "no sign"
                           for m in weighted["message"]],
    })  # fmt: skip
    return who, risk


def matched_table(results: pd.DataFrame) -> pd.DataFrame:
    """Difference-in-differences and rate ratios against matched comparisons."""
    rows = results[results["kind"].isin(["did", "matched_rate_ratio"])]
    rows = by_site_name(rows, ["measure", "site", "kind"])
    table = pd.DataFrame({
        "Site": rows["site_id"].map(site_label),
        "Outcome": rows["measure"].map(measure_name),
        "Effect": rows["kind"].map({"did": "difference in change", "matched_rate_ratio": "rate ratio"}),
        "Estimate": rows["estimate"].map(_fmt),
        "95% interval": [_ci(lo, hi) for lo, hi in zip(rows["ci_low"], rows["ci_high"], strict=True)],
        "People matched": rows["n"].map(count_text),
        "Status": rows["status"],
    }).reset_index(drop=True)  # fmt: skip
    # a column saying "ok" on every row tells a reader nothing: shown only when a model failed
    return table.drop(columns="Status") if (table["Status"] == "ok").all() else table


def wave_text(wave: object, source: object = None) -> str:
    """Which data an estimate comes from, said the same way everywhere."""
    if source == "matched_did" or wave is None or pd.isna(wave):  # type: ignore[arg-type]
        return "matched groups"
    number = int(wave)  # type: ignore[call-overload]
    return f"{_WAVE_NAMES[number]} survey" if number in _WAVE_NAMES else f"survey wave {number}"


def gas_level_text(level: object, basis: object) -> str:
    if level is None or pd.isna(level):  # type: ignore[arg-type]
        return "inconclusive" if basis == "inconclusive" else "-"
    shown = f"{int(level):+d}" if level else "0"  # type: ignore[call-overload]  # "+0" reads oddly
    return shown + (" (derived)" if basis == "derived" else "")


def intended_table(intended: pd.DataFrame) -> pd.DataFrame:
    """Intended against actual: each outcome's target, the estimate it is judged on (with
    the wave it comes from), the verdict, the false-discovery check and the GAS level."""
    frame = intended.sort_values(["site_id", "outcome_id"])
    wave = frame["wave"] if "wave" in frame else pd.Series(None, index=frame.index)
    source = frame["source"] if "source" in frame else pd.Series(None, index=frame.index)
    flag = frame["fdr_flag"] if "fdr_flag" in frame else pd.Series(False, index=frame.index)
    basis = frame["gas_basis"] if "gas_basis" in frame else pd.Series(None, index=frame.index)
    return pd.DataFrame({
        "Site": frame["site_id"].map(site_label),
        "Outcome": (frame["statement"].fillna(frame["outcome_id"]) if "statement" in frame
                    else frame["outcome_id"]),  # the statement people wrote, not its code
        "Measure": frame["measure"].map(measure_name),
        "Intended": [f"{d} by {t:g}" if pd.notna(t) else str(d)
                     for d, t in zip(frame["direction"], frame["target"], strict=True)],
        "Data": [wave_text(w, s) for w, s in zip(wave, source, strict=True)],
        "Change (95% interval)": [
            interval_text(e, lo, hi) for e, lo, hi in
            zip(frame["signed_estimate"], frame["signed_ci_low"], frame["signed_ci_high"], strict=True)],
        "Verdict": frame["classification"],
        "Could be chance?": ["yes" if f is True else "no"
                             if v in CLEAR_VERDICTS else "-"
                             for f, v in zip(flag, frame["classification"], strict=True)],
        "GAS level": [gas_level_text(v, b) for v, b in zip(frame["gas_level"], basis, strict=True)],
    }).reset_index(drop=True)  # fmt: skip


def verdict_rules(intended: pd.DataFrame) -> list[str]:
    """The rule behind each verdict used, in one plain sentence, with each outcome's
    no-change margin and the reason an outcome could not be measured."""
    used = set(intended["classification"]) if len(intended) else set()
    lines = [f"{v.capitalize()}: {VERDICT_RULES[v]}." for v in VERDICTS if v in used]
    if len(intended):
        lines.append(
            "Could be chance? 'yes' means a clear verdict that does not survive the Benjamini-Hochberg "
            "false-discovery check across all the programme's intended outcomes (5% false discovery rate); "
            "'-' means the verdict is not a clear one."
        )
    if "margin" in intended and len(intended):
        # half the target unless the site set its own: only the sites' own are listed (a
        # list of every outcome's half-target ran to a page-long paragraph)
        one_site = intended["site_id"].nunique() == 1
        own = [r for r in intended.itertuples() if pd.notna(r.margin) and pd.notna(r.target)
               and not math.isclose(r.margin, DEFAULT_MARGIN_SHARE * r.target)]  # fmt: skip
        rule = "No-change margin: a change smaller than half the target counts as no change"
        if own:
            rule += ", except where the site set its own: " + "; ".join(
                f"{_outcome_words(r, one_site)} ±{r.margin:g}" for r in own
            )
        lines.append(rule + ".")
    if "why_not_measurable" in intended:
        lines += [f"{_outcome_words(r)}: {r.why_not_measurable}."
                  if r.why_not_measurable.startswith("not measurable")
                  else f"{_outcome_words(r)} is not measurable: {r.why_not_measurable}."
                  for r in intended.itertuples() if isinstance(r.why_not_measurable, str)]  # fmt: skip
    return lines + gas_verdict_notes(intended)


def gas_verdict_notes(intended: pd.DataFrame) -> list[str]:
    """Where verdicts and GAS levels on the site's own scale seem to say different things,
    one sentence per kind saying why, naming the outcomes (a derived level is read from the
    verdict itself, so those always agree)."""
    if not len(intended) or not {"gas_level", "gas_basis"} <= set(intended.columns):
        return []
    reasons = {
        "above": "Achieved, yet a GAS level below the target's: the verdict asks whether the whole "
        "interval is clear of no change and reaches the target, while the level is where the "
        "estimate itself lies on the site's own scale, nearer a threshold below the target",
        "below": "Partly achieved, yet a GAS level at or above the target's: the whole interval is "
        "clear of no change but its top falls short of the target, while the estimate itself lies "
        "nearest the target's level or above on the site's own scale",
        "none": "A clear verdict with no GAS level: the interval spans more than one level of the "
        "site's own scale, so the T-score leaves the outcome out",
        "unclear": "Inconclusive, yet a GAS level: the interval holds both no change and changes "
        "that matter, so no verdict can be read from it, but all of it lies within one level of "
        "where the estimate sits on the site's own scale, which is all a level needs",
    }
    one_site = intended["site_id"].nunique() == 1
    named: dict[str, list[str]] = {kind: [] for kind in reasons}
    for r in intended.itertuples():
        if not str(r.gas_basis).startswith("site scale") and r.gas_basis != "inconclusive":
            continue
        verdict, level = r.classification, r.gas_level
        if verdict in ("achieved", "partly achieved") and pd.isna(level):
            kind = "none"
        elif pd.isna(level):
            continue
        elif verdict == "achieved" and level < 0:
            kind = "above"
        elif verdict == "partly achieved" and level >= 0:
            kind = "below"
        elif verdict == "inconclusive":
            kind = "unclear"
        else:
            continue
        named[kind].append(_outcome_words(r, one_site))
    return [f"{reasons[kind]} ({'; '.join(outcomes)})."
            for kind, outcomes in named.items() if outcomes]  # fmt: skip


def _outcome_words(row: Any, one_site: bool = False) -> str:
    """An intended outcome as readers know it: its site's name (left out in the site's own
    report) and its statement."""
    statement = getattr(row, "statement", None)
    words = statement if isinstance(statement, str) and statement else row.outcome_id
    quoted = f"\u201c{words}\u201d"
    return quoted if one_site else f"{site_label(row.site_id)}, {quoted}"


def gas_table(results: pd.DataFrame, intended: pd.DataFrame | None = None) -> pd.DataFrame:
    """GAS T per site, with what it rests on (levels derived or left out); an outcome the
    note leaves out is named by the statement its site wrote (``intended``), not its code."""
    gas = results[results["kind"] == "gas_t"].sort_values("site_id")
    notes = [_outcome_codes_in_words(str(m) if isinstance(m, str) else "", site, intended)
             for m, site in zip(gas["message"], gas["site_id"], strict=True)]  # fmt: skip
    return pd.DataFrame({"Site": gas["site_id"].map(site_label), "GAS T-score": gas["estimate"].map(
        lambda v: "-" if pd.isna(v) else f"{v:.1f}"),
        "Rests on": notes}).reset_index(drop=True)  # fmt: skip


def _outcome_codes_in_words(note: str, site: str, intended: pd.DataFrame | None) -> str:
    if intended is None or "statement" not in intended or not note:
        return note
    mine = intended[(intended["site_id"] == site) & intended["statement"].notna()]
    for code, words in zip(mine["outcome_id"], mine["statement"], strict=True):
        quoted = f"\u201c{words}\u201d"  # a function, so a backslash a site wrote stays text
        note = re.sub(rf"(?<![\w-]){re.escape(str(code))}(?![\w-])", lambda _m, q=quoted: q, note)
    return note


def value_table(results: pd.DataFrame) -> pd.DataFrame:
    rows = results[
        (results["kind"] == "value_account") & (results["measure"] == "adjusted_value_gbp")
    ]
    return pd.DataFrame({
        "Site": rows["site_id"].map(site_label),
        "Central value (£ per year)": rows["estimate"].map(lambda v: f"{v:,.0f}"),
        "Low to high scenarios (£)": [f"{lo:,.0f} to {hi:,.0f}"
                                      for lo, hi in zip(rows["ci_low"], rows["ci_high"], strict=True)],
    }).reset_index(drop=True)  # fmt: skip


def six_box_counts(value_items: pd.DataFrame, site_id: str) -> pd.DataFrame:
    """The Revaluation six boxes of the site's latest session, small counts suppressed."""
    mine = value_items[value_items["site_id"] == site_id]
    if mine.empty:
        return pd.DataFrame()
    grid = six_box_grid(mine)
    latest = grid[grid["session_date"] == grid["session_date"].max()]
    table = latest.pivot_table(index="value_kind", columns="visibility", values="items",
                               aggfunc="sum").reindex(index=list(KINDS), columns=list(VISIBILITY))  # fmt: skip
    table.index.name, table.columns.name = None, None
    return suppress_counts(table.fillna(0))


def moved_items(
    value_items: pd.DataFrame, site_id: str, threshold: int = THRESHOLD
) -> tuple[str, list[str]]:
    """How many items moved from invisible to visible, and which (listed only from 5 up)."""
    moved = moved_to_visible(value_items[value_items["site_id"] == site_id])
    items = sorted(moved["item"].astype(str))
    return count_text(len(items), threshold), (items if len(items) >= threshold else [])


def files_table(files: pd.DataFrame) -> pd.DataFrame:
    frame = files.sort_values("received_at")
    return pd.DataFrame({
        "File": frame["original_filename"],
        "Site": frame["site_id"].map(site_label).fillna("programme"),
        "Received": pd.to_datetime(frame["received_at"]).dt.strftime("%Y-%m-%d"),
        "Status": frame["status"].str.replace("_", " "),
        "Rows accepted": frame["rows_accepted"].map(count_text),
        "Rows rejected": frame["rows_rejected"].map(count_text),
    }).reset_index(drop=True)  # fmt: skip


def rejections_table(rejections: pd.DataFrame, files: pd.DataFrame) -> pd.DataFrame:
    if rejections.empty:
        return pd.DataFrame()
    names = dict(zip(files["ingest_id"], files["original_filename"], strict=True))
    return pd.DataFrame({
        "File": rejections["ingest_id"].map(names),
        "Table": rejections["table_name"],
        "Why": rejections["reason"].map(lambda r: REASONS_IN_WORDS.get(r, r.replace("_", " "))),
        "Rows": rejections["rows"].map(count_text),
    }).reset_index(drop=True)  # fmt: skip


CHANGE_KINDS: Final[tuple[str, ...]] = ("survey_change", "paradigm_index")
ORDINALS: Final[tuple[str, ...]] = ("first", "second", "third", "fourth", "fifth", "sixth")


def headline_changes(results: pd.DataFrame, site_id: str) -> pd.DataFrame:
    """The one stored change row per headline measure that every sentence about the site
    draws on: the site's latest follow-up wave (the wave its intended outcomes are judged
    on), or for all sites together the wave with the most people answering both."""
    rows = results[(results["site_id"] == site_id) & results["kind"].isin(CHANGE_KINDS)
                   & results["measure"].isin(headline_measures(results)) & results["estimate"].notna()]  # fmt: skip
    if rows.empty:
        return rows
    if site_id == "all":
        people = pd.to_numeric(rows["n"], errors="coerce").fillna(0)
        chosen = (
            rows.assign(people=people).sort_values(["people", "wave"]).groupby("measure").tail(1)
        )
    else:
        chosen = rows.sort_values("wave").groupby("measure").tail(1)
    order = {m: i for i, m in enumerate(headline_measures(results))}
    return chosen.sort_values("measure", key=lambda m: m.map(order)).drop(
        columns="people", errors="ignore"
    )


def survey_words(wave: int) -> str:
    """A follow-up wave in plain words: wave 1 is the second survey (or the surveys by the
    names the programme gives its waves)."""
    if 0 in _WAVE_NAMES or wave in _WAVE_NAMES:
        return f"between {first_survey()} and the {_survey_called(wave)} survey"
    nth = ORDINALS[wave] if wave < len(ORDINALS) else f"number {wave + 1}"
    return f"between the first survey and the {nth}"


def first_survey() -> str:
    """The baseline survey in a participant's words."""
    return f"the {_WAVE_NAMES[0]} survey" if 0 in _WAVE_NAMES else "the first survey"


def _survey_called(wave: int) -> str:
    if wave in _WAVE_NAMES:
        return _WAVE_NAMES[wave]
    return ORDINALS[wave] if wave < len(ORDINALS) else f"number {wave + 1}"


def survey_name(wave: int) -> str:
    """A survey as a participant's picture labels it: "First survey", or the wave's name."""
    if wave in _WAVE_NAMES:
        return _WAVE_NAMES[wave][:1].upper() + _WAVE_NAMES[wave][1:]
    return (
        f"{ORDINALS[wave].capitalize()} survey"
        if 0 <= wave < len(ORDINALS)
        else f"Survey {wave + 1}"
    )


def headline_measures(results: pd.DataFrame) -> list[str]:
    """The measures sentences are about: the programme's instrument scores and items, then
    the paradigm index (the sample programme: swemwbs, ucla3, paradigm_index)."""
    return survey_change_measures(results)


def scale_range(measure: str) -> str:
    """How a measure is scored, in words: the registry's ``range_words``, else its range
    (and that higher is worse when lower is better)."""
    if measure == "paradigm_index":
        return PARADIGM_RANGE
    instrument = _instrument_of(measure)
    if instrument is None:
        return "points"
    if instrument.range_words and instrument.better_for(measure) == instrument.better:
        return instrument.range_words
    worse = ", higher is worse" if instrument.better_for(measure) == "lower" else ""
    return f"scored from {instrument.range[0]:g} to {instrument.range[1]:g}{worse}"


def participant_label(measure: str) -> str:
    """A measure's label in the participants' picture ("Wellbeing (7 to 35)")."""
    instrument = _instrument_of(measure)
    low_high = (
        "" if instrument is None else f" ({instrument.range[0]:g} to {instrument.range[1]:g})"
    )
    return plain_measure(measure).capitalize() + low_high


def survey_change_measures(results: pd.DataFrame) -> list[str]:
    """The survey measures the results hold change for: the programme's instrument scores,
    then the items that are measures of their own (each alphabetically), then the paradigm
    index."""
    kinds = results["kind"].isin(["survey_change", "paradigm_index"])
    measures = sorted(set(results.loc[kinds & (results["kind"] == "survey_change"), "measure"]),
                      key=lambda m: (_is_item(m), m))  # fmt: skip
    return measures + (["paradigm_index"] if (results["measure"] == "paradigm_index").any() else [])


def _is_item(measure: str) -> bool:
    instrument = _instrument_of(measure)
    return instrument is not None and measure != instrument.key


def plain_measure(measure: str) -> str:
    """A measure in a participant's words ("wellbeing"): the registry's ``plain_name``, or
    for one item of an instrument its ``plain_items`` words."""
    if measure == "paradigm_index":
        return PARADIGM_WORDS
    instrument = _instrument_of(measure)
    if instrument is None:
        return measure.replace("_", " ")
    if measure == instrument.key:
        return instrument.plain_name
    item = instrument.item_of(measure)
    return (instrument.plain_items.get(item or "")
            or instrument.measure_name(measure).split(": ", 1)[-1].lower())  # fmt: skip


def listed(words: list[str]) -> str:
    """Words as a list: "a", "a and b", "a, b and c"."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def survey_instruments_words(results: pd.DataFrame) -> str:
    """The instruments whose change the results hold, in plain words ("wellbeing and
    loneliness"): what the report's survey section is about."""
    instruments = [_instrument_of(m) for m in survey_change_measures(results)]
    words = list(dict.fromkeys(i.plain_name for i in instruments if i is not None))
    return listed(words) if words else "survey answers"


def survey_heading(results: pd.DataFrame) -> str:
    """The heading of the survey section: its instruments' plain names ("Wellbeing and
    loneliness")."""
    words = survey_instruments_words(results)
    return words[:1].upper() + words[1:]


def survey_figure_caption(results: pd.DataFrame, *, per_site: bool) -> str:
    """The survey-change figure's caption, naming this programme's instruments."""
    where = " per site (all = pooled)" if per_site else ""
    return (f"Figure: change in {survey_instruments_words(results)} since the {wave_words(0)} "
            f"survey{where}, with 95% intervals.")  # fmt: skip


def change_picture_caption(measures: Iterable[str]) -> str:
    """The participants' change picture, said in their words for this programme's measures."""
    named = listed(list(dict.fromkeys(plain_measure(m) for m in measures)) or ["people's answers"])
    return (f"Picture: how much {named} changed between {first_survey()} and the latest one. "
            "The line on each bar shows the range the real change is likely to be in. Blue means a "
            "change for the better.")  # fmt: skip


def better_is_higher(measure: str) -> bool:
    """Whether a rise in the measure is a change for the better."""
    instrument = _instrument_of(measure)
    return instrument is None or instrument.better_for(measure) == "higher"


def summary_sentences(inputs: ReportInputs, site_id: str) -> list[str]:
    """The one-page summary in plain words for one site (or "all" for the pooled view)."""
    results = inputs.results[inputs.results["site_id"] == site_id]
    sentences = []
    for r in headline_changes(inputs.results, site_id).itertuples():
        sentences.append(
            f"{measure_name(r.measure)} {_direction(r.estimate, r.ci_low, r.ci_high)} "
            f"by {abs(r.estimate):.2f} points from {wave_words(0)} to {wave_words(r.wave)} "
            f"(95% interval {r.ci_low:.2f} to {r.ci_high:.2f}; {count_text(r.n)} people answered both)."
        )
    did = results[(results["kind"] == "did") & results["estimate"].notna()]
    clear = did[(did["ci_low"] > 0) | (did["ci_high"] < 0)]
    if len(did):
        sentences.append(
            "Against matched comparison groups, "
            + (", ".join(f"{in_sentence(measure_name(m))} {'rose' if e > 0 else 'fell'} more for participants"
                         for m, e in zip(clear["measure"], clear["estimate"], strict=True))
               if len(clear) else "no outcome's difference in change was clear against comparable non-participants")
            + "."
        )  # fmt: skip
    intended = (
        inputs.intended
        if site_id == "all"
        else inputs.intended[inputs.intended["site_id"] == site_id]
    )
    for verdict in VERDICTS:
        chosen = intended[intended["classification"] == verdict]
        if chosen.empty:
            continue
        if site_id == "all":
            named = "; ".join(f"{inputs.site_name(str(site))} ({', '.join(group['measure'].map(measure_name))})"
                              for site, group in chosen.groupby("site_id"))  # fmt: skip
        else:
            named = ", ".join(chosen["measure"].map(measure_name))
        sentences.append(f"Intended outcomes {verdict}: {named}.")
    failed = [f for f in inputs.failures if site_id in (f["site_id"], "all")]
    sentences += [f"Part of this report is missing: the models for {f['site_id']} failed ({f['error']})."
                  for f in failed]  # fmt: skip
    return sentences


def first_screen(inputs: ReportInputs, site_id: str) -> list[str]:
    """Three plain sentences before any detail: what changed, for whom, how sure."""
    heads = headline_changes(inputs.results, site_id)
    intended = inputs.intended if site_id == "all" else inputs.intended[
        inputs.intended["site_id"] == site_id]  # fmt: skip
    where = "Across all sites" if site_id == "all" else f"At {inputs.site_name(site_id)}"
    if heads.empty:
        what = f"{where}, no change could be estimated yet."
    else:
        by_wave = [
            f"to {wave_words(wave)}: " + ", ".join(
                f"{plain_measure(r.measure)} {_direction(r.estimate, r.ci_low, r.ci_high).split(' (')[0]} "
                f"by {abs(r.estimate):.2f} points ({scale_range(r.measure)})" for r in group.itertuples())
            for wave, group in heads.groupby("wave", sort=True)
        ]  # fmt: skip
        reached = intended["classification"].isin(["achieved", "partly achieved"]).sum()
        what = (f"{where}, from the {wave_words(0)} survey {'; '.join(by_wave)}; "
                f"{reached} of {len(intended)} intended outcomes were achieved at least in part.")  # fmt: skip
    who = _who_sentence(inputs.results, site_id, heads)
    clear = intended["classification"].isin(CLEAR_VERDICTS)
    flagged = (
        intended["fdr_flag"].fillna(False).astype(bool) if "fdr_flag" in intended else clear & False
    )
    unsure = intended["classification"].isin(["inconclusive", "not measurable"]).sum()
    sure = (f"How sure: {int((clear & ~flagged).sum())} of {len(intended)} verdicts rest on an interval "
            f"clear of no change that also survives the check for chance findings across the programme"
            f"{f' ({int(flagged.sum())} more may be chance)' if flagged.any() else ''}; "
            f"{int(unsure)} cannot be judged yet (intervals too wide or no data).")  # fmt: skip
    return [what, who, sure]


def _who_sentence(results: pd.DataFrame, site_id: str, heads: pd.DataFrame) -> str:
    # the programme's first scale (its instruments' scores come first): who it rests on
    first = next((m for m in heads["measure"] if m != "paradigm_index"), None)
    wellbeing = heads[heads["measure"] == first] if first is not None else heads.iloc[:0]
    if wellbeing.empty:
        return "For whom: no one has yet answered both a baseline and a follow-up survey."
    wave = int(wellbeing["wave"].iloc[0])
    sites = results["site_id"] != "all" if site_id == "all" else results["site_id"] == site_id
    pick = results[sites & (results["measure"] == first) & (results["wave"] == wave)]
    retention = pick[pick["kind"] == "retention"]
    baseline = pd.to_numeric(retention["n"], errors="coerce").sum()
    risky = pick[
        (pick["kind"] == "ipw_change") & pick["message"].fillna("").str.startswith("at risk")
    ]
    people = count_text(wellbeing["n"].iloc[0])
    share = ""
    if baseline and str(people).isdigit():
        percent = round(100 * int(people) / baseline)
        share = f", {percent}% of the {int(baseline)} who answered at baseline"
    risk = (f"those who left differed at baseline in {len(risky)} site{'s' if len(risky) != 1 else ''}, so "
            "the change there is shown beside a version weighted for who stayed" if len(risky)
            else "those who left did not differ clearly at baseline from those who stayed")  # fmt: skip
    return (
        f"For whom: the {people} people who answered both the {wave_words(0)} survey and "
        f"{survey_of(wave)}{share}; "
        f"{risk}."
    )


def rate_ratio_notes(results: pd.DataFrame) -> list[str]:
    """Where a count outcome's difference in change and its rate ratio disagree on whether
    the effect is clear, one sentence saying why."""
    did = results[results["kind"] == "did"].set_index(["site_id", "measure"])
    ratio = results[results["kind"] == "matched_rate_ratio"].set_index(["site_id", "measure"])
    notes = []
    for key in did.index.intersection(ratio.index):
        d, r = did.loc[key], ratio.loc[key]
        if any(pd.isna(v) for v in (d["ci_low"], d["ci_high"], r["ci_low"], r["ci_high"])):
            continue
        did_clear = d["ci_low"] > 0 or d["ci_high"] < 0
        ratio_clear = r["ci_low"] > 1 or r["ci_high"] < 1
        if did_clear == ratio_clear:
            continue
        shown = r if ratio_clear else d
        clear_one = "rate ratio" if ratio_clear else "difference in change"
        unclear_one = "difference in change" if ratio_clear else "rate ratio"
        same_way = (d["estimate"] < 0) == (r["estimate"] < 1)
        notes.append(
            f"{site_label(key[0])}, {measure_name(key[1])}: the {clear_one} ({shown['estimate']:.2f}, 95% interval "
            f"{shown['ci_low']:.2f} to {shown['ci_high']:.2f}) is clear but the {unclear_one} is not, "
            "because they ask different questions of the same people: the difference in change is an "
            "absolute difference in yearly counts, in which the heaviest users weigh most, while the rate "
            "ratio is a relative change from a Poisson model that takes each person's baseline count into "
            "account; near the edge of clarity one can cross it and the other not"
            + ("; both point the same way." if same_way
               else "; here they point opposite ways, so neither should be read alone.")
        )  # fmt: skip
    return notes


def plain_change(results: pd.DataFrame, site_id: str) -> list[str]:
    """What changed, said for participants: no p-values, no jargon, the scale's range and
    which surveys, from the same stored rows as every other report."""
    lines = []
    for r in headline_changes(results, site_id).itertuples():
        went = "went up" if r.estimate > 0 else "went down"
        sure = (r.ci_low > 0) or (r.ci_high < 0)
        lines.append(
            f"**{plain_measure(r.measure).capitalize()}** ({scale_range(r.measure)}) {went} by about "
            f"{abs(r.estimate):.1f} points {survey_words(int(r.wave))} "
            + ("- we are fairly sure this is a real change" if sure
               else "- but this could be chance, so we cannot say it really changed")
            + f" (likely somewhere between {likely_range(r.ci_low, r.ci_high)})."
        )  # fmt: skip
    return lines


def likely_range(low: float, high: float) -> str:
    """An interval in a participant's words, sizes without minus signs ("went down by about
    0.9 points ... between 0.7 and 1.1 points down", not "between -1.1 and -0.7")."""
    if low >= 0:
        return f"{low:.1f} and {high:.1f}"
    if high <= 0:
        return f"{abs(high):.1f} and {abs(low):.1f} points down"
    return f"{abs(low):.1f} points down and {high:.1f} points up"


def empowers_words(behaviour: str) -> str:
    """An EMPOWERS behaviour in a participant's words (the registry's ``plain_items``)."""
    instrument = _instrument_of(f"emp_{behaviour}")
    words = instrument.plain_items.get(behaviour) if instrument is not None else None
    return words or behaviour.replace("_", " ")


def empowers_meanings(behaviours: Iterable[str] | None = None) -> list[str]:
    """What each behaviour (default: every EMPOWERS behaviour) means, in plain words."""
    instrument = instrument_registry()["empowers"]
    chosen = [k for k, _ in instrument.items] if behaviours is None else list(behaviours)
    return [f"{empowers_words(name).capitalize()} (the survey calls this \u201c{name}\u201d)"
            for name in chosen]  # fmt: skip


def six_box_words(grid: pd.DataFrame) -> str | None:
    """When every box of the grid is suppressed or empty, the grid says nothing: say it in
    words instead (None when the grid has something to show)."""
    body = grid.drop(index="Total", errors="ignore").drop(columns="Total", errors="ignore")
    cells = [str(v) for v in body.to_numpy().ravel()]
    if any(c not in (SUPPRESSED, "0", "0.0") for c in cells):
        return None
    return ("Fewer than 5 items of value were recorded in each of the six boxes at the latest story "
            "session, so the grid is not drawn: numbers this small could identify the people behind "
            "them. The items are counted in the programme's totals.")  # fmt: skip


def _direction(estimate: float, low: float, high: float) -> str:
    if low > 0:
        return "rose"
    if high < 0:
        return "fell"
    return "changed little (no clear change)" if abs(estimate) < 1e-9 else (
        "rose slightly, within chance," if estimate > 0 else "fell slightly, within chance,")  # fmt: skip


def _fmt(value: object) -> str:
    return "-" if value is None or pd.isna(value) else number_text(float(value))  # type: ignore[arg-type]


def _ci(low: object, high: object) -> str:
    if low is None or high is None or pd.isna(low) or pd.isna(high):  # type: ignore[arg-type]
        return "-"
    return f"{number_text(float(low))} to {number_text(float(high))}"  # type: ignore[arg-type]


def balance_summary(balance: pd.DataFrame, site_id: str) -> pd.DataFrame:
    """One love-plot row per covariate: the worst |SMD| over the site's matched outcomes
    (each outcome is matched on its own baseline, shown as 'baseline <outcome>')."""
    mine = balance[(balance["site_id"] == site_id) & (balance["covariate"] != "distance")]
    if mine.empty:
        return pd.DataFrame(columns=["covariate", "smd_before", "smd_after"])
    named = mine.assign(covariate=mine["covariate"].map(characteristic_name),
                        smd_before=mine["smd_before"].abs(), smd_after=mine["smd_after"].abs())  # fmt: skip
    return named.groupby("covariate", sort=False)[["smd_before", "smd_after"]].max().reset_index()


CHARACTERISTICS: Final[dict[str, str]] = {
    "age": "age", "sex": "sex", "imd_decile": "deprivation (IMD decile)",
    "ltc_count": "long-term conditions",
}  # fmt: skip
"""The comparison extract's characteristics (schemas/comparison_records.yaml) in words."""


def in_sentence(name: str) -> str:
    """A name inside a sentence: 'Wellbeing (GP record)' becomes 'wellbeing (GP record)',
    while 'GP contacts' and 'A&E visits' keep their capitals."""
    return name[:1].lower() + name[1:] if name[1:2].islower() else name


def characteristic_name(covariate: str) -> str:
    """A matching characteristic as readers know it: 'baseline A&E visits', not
    'pre_ae_visits'; 'sex: female', not 'sexfemale' (a category's indicator column)."""
    if covariate.startswith("pre_"):
        name = measure_name(covariate.removeprefix("pre_"))
        return "baseline " + in_sentence(name)
    if covariate in CHARACTERISTICS:
        return CHARACTERISTICS[covariate]
    for column, words in CHARACTERISTICS.items():
        if covariate.startswith(column) and len(covariate) > len(column):
            return f"{words}: {covariate.removeprefix(column).lstrip('_').replace('_', ' ')}"
    return covariate.replace("_", " ")


def balance_table(balance: pd.DataFrame) -> pd.DataFrame:
    """The love plot's numbers as a table (largest |SMD| per characteristic)."""
    if balance.empty:
        return pd.DataFrame()
    return pd.DataFrame({
        "Characteristic": balance["covariate"].str.replace("_", " "),
        "Before matching": balance["smd_before"].map(_fmt),
        "After matching": balance["smd_after"].map(_fmt),
        "Balanced (under 0.1)": ["yes" if v < 0.1 else "no" for v in balance["smd_after"]],
    }).reset_index(drop=True)  # fmt: skip


def effect_rows(results: pd.DataFrame, kind: str, *, by_site: bool) -> pd.DataFrame:
    """Estimates of one kind labelled for a forest plot."""
    rows = results[(results["kind"] == kind) & results["estimate"].notna()]
    rows = by_site_name(rows, ["measure", "site"])
    waves = rows["wave"].dropna().nunique() > 1
    labels = [(f"{site_label(s)} - " if by_site else "") + measure_name(m) + (f" ({wave_words(w)})" if waves else "")
              for s, m, w in zip(rows["site_id"], rows["measure"], rows["wave"], strict=True)]  # fmt: skip
    # for a plot in one panel per measure: the panel's name and the row's label within it
    shorts = [" - ".join(str(p) for p in (site_label(s) if by_site else None,
                                          wave_words(w) if waves else None) if p) or measure_name(m)
              for s, m, w in zip(rows["site_id"], rows["measure"], rows["wave"], strict=True)]  # fmt: skip
    return rows.assign(label=labels, panel=rows["measure"].map(measure_name), short=shorts)[
        ["label", "estimate", "ci_low", "ci_high", "panel", "short"]
    ]


def phase_starts(events: pd.DataFrame) -> pd.DataFrame:
    """When each site entered each phase of the movement (month of its first event)."""
    if events.empty:
        return pd.DataFrame()
    dated = events.assign(event_date=pd.to_datetime(events["event_date"]))
    first = dated.groupby(["site_id", "phase"])["event_date"].min().dt.strftime("%b %Y")
    table = first.unstack("phase").reindex(columns=[p for p in PHASES if p in set(dated["phase"])])
    table.columns = [c.replace("_", " ") for c in table.columns]
    table.columns.name = None
    table = table.fillna("-").reset_index()
    return table.assign(site_id=table["site_id"].map(site_label)).rename(
        columns={"site_id": "Site"}
    )


def chosen_stories(stories: pd.DataFrame, site_id: str, limit: int = 6) -> list[str]:
    """A few consented stories for the page: the latest wave first, positive and negative
    alike, in a stable order (the same run always shows the same stories)."""
    mine = stories[stories["site_id"] == site_id]
    if mine.empty:
        return []
    ordered = mine.assign(length=mine["story_text"].str.len()).sort_values(
        ["wave", "story_valence", "length", "story_text"], ascending=[False, True, False, True]
    )
    picked = pd.concat([ordered[ordered["story_valence"] >= 0].head(limit - limit // 3),
                        ordered[ordered["story_valence"] < 0].head(limit // 3)])  # fmt: skip
    return picked["story_text"].drop_duplicates().head(limit).tolist()


GOOD_DIRECTION: Final[dict[str, int]] = {"ae_visits": -1, "gp_contacts": -1, "admissions": -1}
"""Comparison outcomes where a fall is the better outcome (instruments say in the registry)."""
VALENCE_WORDS: Final[dict[str, str]] = {
    "positive": "a good change", "negative": "a bad change", "mixed": "mixed, good and bad",
}  # fmt: skip


def unintended_lines(
    unintended: pd.DataFrame,
    site_id: str | None,
    stories_per_site: int = 4,
    results: pd.DataFrame | None = None,
) -> list[str]:
    """Outcomes nobody named in advance, as sentences (stories only where consented,
    which the evaluation already enforced). With the run's ``results``, a clear change
    says which data it rests on, as every other mention of a measure does."""
    rows = unintended if site_id is None else unintended[unintended["site_id"] == site_id]
    stories = rows[
        (rows["source"] == "story") & ~rows["what"].astype(str).str.contains("no consent")
    ]
    # many people tell the same unexpected story: each is said once, a few per site
    stories = stories.drop_duplicates(["site_id", "what"]).groupby("site_id").head(stories_per_site)
    rows = pd.concat([rows[rows["source"] != "story"], stories])
    lines = []
    for r in rows.itertuples():
        where = "" if site_id else f"{site_label(r.site_id)}: "
        if r.source == "measure":
            rise_is_good = GOOD_DIRECTION.get(
                str(r.what), 1 if better_is_higher(str(r.what)) else -1
            )
            better = (r.estimate > 0) == (rise_is_good > 0)
            source = _source_of(results, str(r.site_id), str(r.what), r.estimate)
            lines.append(f"{where}{measure_name(str(r.what))} changed clearly although no intended "
                         f"outcome named it - a change for the {'better' if better else 'worse'}: "
                         f"{interval_text(r.estimate, r.ci_low, r.ci_high)}{source}")  # fmt: skip
        elif r.source == "harvested":
            lines.append(
                f"{where}{r.what} ({VALENCE_WORDS.get(r.valence, r.valence)}, found by outcome harvesting)"
            )
        else:
            lines.append(f"{where}\u201c{r.what}\u201d ({VALENCE_WORDS.get(r.valence, r.valence)}: "
                         "a story nobody expected)")  # fmt: skip
    return lines


def _source_of(results: pd.DataFrame | None, site: str, measure: str, estimate: float) -> str:
    """The stored row an unintended change is, said as ", survey wave N" or ", matched groups"."""
    if results is None:
        return ""
    rows = results[(results["site_id"] == site) & (results["measure"] == measure)
                   & results["kind"].isin(["survey_change", "paradigm_index", "empowers", "did"])
                   & (results["estimate"] - estimate).abs().lt(1e-9)]  # fmt: skip
    if rows.empty:
        return ""
    row = rows.iloc[0]
    return ", " + wave_text(None if row["kind"] == "did" else row["wave"])


# --- the sample programme's wording, as the registry gives it ------------------------------
# Reports ask the functions above, which read the programme's instruments; these views of
# the default programme (swemwbs, ucla3, empowers) are for tests that check its pages.

_DEFAULT_SCORES: Final[tuple[str, ...]] = tuple(
    key for key in DEFAULT_INSTRUMENTS if instrument_registry()[key].scoring != "each_item"
)
HEADLINE_MEASURES: Final[tuple[str, ...]] = (*_DEFAULT_SCORES, "paradigm_index")
PLAIN_MEASURES: Final[dict[str, str]] = {m: plain_measure(m) for m in HEADLINE_MEASURES}
SCALE_RANGES: Final[dict[str, str]] = {m: scale_range(m) for m in HEADLINE_MEASURES}
EMPOWERS_WORDS: Final[dict[str, str]] = {
    name: empowers_words(name) for name, _ in instrument_registry()["empowers"].items
}
