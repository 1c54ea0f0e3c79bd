"""A second synthetic programme, different from the sample in every configurable way.

"Neighbours in Health" (fictional): four sites with hyphenated codes, its own age bands
and roles, WEMWBS and ONS4 instead of SWEMWBS, UCLA-3 and EMPOWERS, three survey waves
(baseline and two follow-ups), its own title and its own programme file. Its true
effects are written to ``truth.json`` so tests can check that reval recovers them with
no code written for this programme. Pure generator (``second_programme(seed)``);
``write_second_programme`` is the only function that touches files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from reval.contract import instrument_registry
from reval.spreadsheets import write_workbook
from reval.synthetic_programme import (
    ITEM_NOISE_SD,
    OCCASION_SD,
    PARADIGM_STATEMENTS,
    SITE_DESIGNS,
    TRUTH_DRAWS,
    SiteDesign,
    _comparison,
    _events,
    _harvested,
    _likert,
    _paradigm_items,
    _value_items,
)

NAME: Final[str] = "neighbours"
TITLE: Final[str] = "Neighbours in Health"
DEFAULT_SEED: Final[int] = 2
"""The first seed from 1 for which every documented effect falls inside the models' 95%
intervals (as for the sample programme: with 56 intervals a random seed usually misses one)."""
AGE_BANDS: Final[tuple[str, ...]] = ("16-24", "25-44", "45-64", "65-74", "75+")
ROLES: Final[tuple[str, ...]] = ("member", "organiser", "volunteer", "staff")
WAVES: Final[int] = 2
"""Follow-up waves after the baseline: three waves in all."""
WEMWBS_OFFSETS: Final[np.ndarray] = np.linspace(-0.3, 0.3, 14)
COMPARISON_OUTCOMES: Final[tuple[str, ...]] = ("ae_visits", "gp_contacts")

PROGRAMME_YAML: Final[str] = f"""\
# Neighbours in Health: reval's second sample programme (`reval sample-data --programme
# {NAME}`). Copy this file to $REVAL_HOME/programme.yaml before loading the data.
title: {TITLE}
instruments: [wemwbs, ons4]
categories:
  age_band: [{", ".join(AGE_BANDS)}]
  role: [{", ".join(ROLES)}]
waves:
  0: baseline
  1: six months
  2: one year
own_instruments: {{}}
"""


@dataclass(frozen=True)
class NeighbourSite:
    """One site: who answers, and what truly changes per follow-up wave."""

    design: SiteDesign
    """Reused for the comparison extract, value items, harvested outcomes and events."""
    respondents: int
    age_weights: tuple[float, float, float, float, float]
    role_weights: tuple[float, float, float, float]
    wellbeing_shift: float  # latent SD units per follow-up wave
    anxiety_shift: float  # latent SD units per follow-up wave (negative = less anxious)
    paradigm_shift: float


def _design(base: SiteDesign, **changes: object) -> SiteDesign:
    return replace(base, **changes)  # type: ignore[arg-type]


SITES: Final[tuple[NeighbourSite, ...]] = (
    NeighbourSite(
        _design(SITE_DESIGNS[0], site_id="halton-wellbeing", site_name="Halton Wellbeing Circle",
                care_model="Community wellbeing hubs run by residents", region="North West",
                prefix="HW", population=1600, follow_up_waves=WAVES,
                rate_ratios={"ae_visits": 0.80, "gp_contacts": 0.90, "admissions": 1.0},
                intended=(
                    ("wb", "People who come along feel better in themselves", "wemwbs", 2.0, 2.0, "participants", "illness_experience"),
                    ("sat", "People are more satisfied with their lives", "ons4_1", 0.5, 1.0, "joint", "determinants"),
                    ("ae", "Fewer trips to A&E", "ae_visits", 0.1, 1.0, "funder", "care_delivery"),
                )),
        respondents=260, age_weights=(0.15, 0.30, 0.30, 0.15, 0.10),
        role_weights=(0.6, 0.15, 0.2, 0.05), wellbeing_shift=0.30, anxiety_shift=-0.20,
        paradigm_shift=0.30),
    NeighbourSite(
        _design(SITE_DESIGNS[2], site_id="knowsley-connect", site_name="Knowsley Connect",
                care_model="Social prescribing with a neighbourhood network", region="North West",
                prefix="KC", population=1500, follow_up_waves=WAVES,
                rate_ratios={"ae_visits": 1.0, "gp_contacts": 0.85, "admissions": 1.0},
                intended=(
                    ("anx", "People feel less anxious day to day", "ons4_4", 0.5, 2.0, "participants", "illness_experience"),
                    ("gp", "Fewer GP contacts driven by isolation", "gp_contacts", 0.3, 1.0, "staff", "care_delivery"),
                    ("io1", "Neighbours see health as something they make together", "paradigm_index", 0.3, 1.0, "joint", "norms"),
                )),
        respondents=240, age_weights=(0.10, 0.25, 0.30, 0.20, 0.15),
        role_weights=(0.55, 0.10, 0.25, 0.10), wellbeing_shift=0.15, anxiety_shift=-0.40,
        paradigm_shift=0.20),
    NeighbourSite(
        _design(SITE_DESIGNS[4], site_id="runcorn-carers", site_name="Runcorn Carers Together",
                care_model="Peer support for unpaid carers", region="North West",
                prefix="RC", population=1400, follow_up_waves=WAVES,
                rate_ratios={"ae_visits": 0.85, "gp_contacts": 1.0, "admissions": 1.0},
                intended=(
                    ("wb", "Carers feel better in themselves", "wemwbs", 1.5, 2.0, "participants", "illness_experience"),
                    ("worth", "Carers feel what they do is worthwhile", "ons4_2", 0.4, 1.0, "joint", "norms"),
                )),
        respondents=220, age_weights=(0.05, 0.20, 0.40, 0.20, 0.15),
        role_weights=(0.5, 0.2, 0.25, 0.05), wellbeing_shift=0.20, anxiety_shift=-0.10,
        paradigm_shift=0.10),
    NeighbourSite(
        _design(SITE_DESIGNS[5], site_id="widnes_youth", site_name="Widnes Youth Voices",
                care_model="Young people's mental health campaign", region="North West",
                prefix="WY", population=1500, age_mean=30, age_sd=10, follow_up_waves=WAVES,
                rate_ratios={"ae_visits": 1.0, "gp_contacts": 1.0, "admissions": 1.0},
                intended=(
                    ("happy", "Young people feel happier", "ons4_3", 0.5, 1.0, "participants", "illness_experience"),
                    ("voice", "Young people shape local services", "paradigm_index", 0.4, 2.0, "participants", "innovation_policy"),
                )),
        respondents=230, age_weights=(0.70, 0.30, 0.0, 0.0, 0.0),
        role_weights=(0.5, 0.3, 0.15, 0.05), wellbeing_shift=0.0, anxiety_shift=0.0,
        paradigm_shift=0.40),
)  # fmt: skip


def _wemwbs(w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _likert(w, 3.1, 0.85, WEMWBS_OFFSETS, 1, 5, rng)


def _ons4(w: np.ndarray, anxious: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Life satisfaction, worthwhile and happiness rise with wellbeing; anxiety with the
    anxiety trait (0-10 each)."""
    noise = rng.normal(0.0, ITEM_NOISE_SD * 2, size=(w.shape[0], 4))
    raw = np.column_stack([6.6 + 1.5 * w, 7.0 + 1.2 * w, 6.8 + 1.6 * w, 3.6 + 1.8 * anxious])
    return np.clip(np.rint(raw + noise), 0, 10).astype(int)


def _expected(w: np.ndarray, anxious: np.ndarray, p: np.ndarray,
              rng: np.random.Generator) -> dict[str, np.ndarray]:  # fmt: skip
    """Expected WEMWBS, each ONS4 item and the paradigm index per person (Monte Carlo over
    occasion and item noise)."""
    n = w.shape[0]
    draw = lambda x: np.repeat(x, TRUTH_DRAWS) + rng.normal(0, OCCASION_SD, n * TRUTH_DRAWS)  # noqa: E731
    rep_w, rep_a, rep_p = draw(w), draw(anxious), draw(p)
    out = {"wemwbs": _wemwbs(rep_w, rng).sum(axis=1).astype(float)}
    ons = _ons4(rep_w, rep_a, rng).astype(float)
    out.update({f"ons4_{k + 1}": ons[:, k] for k in range(4)})
    items = _paradigm_items(rep_p, rng).astype(float)
    new = PARADIGM_STATEMENTS["paradigm"].to_numpy() == "new"
    out["paradigm_index"] = items[:, new].mean(axis=1) - items[:, ~new].mean(axis=1)
    return {k: v.reshape(n, TRUTH_DRAWS).mean(axis=1) for k, v in out.items()}


def _survey(
    site: NeighbourSite, rng: np.random.Generator
) -> tuple[pd.DataFrame, dict[str, object]]:
    design, n = site.design, site.respondents
    age = rng.choice(len(AGE_BANDS), size=n, p=np.array(site.age_weights) / sum(site.age_weights))
    role = rng.choice(len(ROLES), size=n, p=np.array(site.role_weights) / sum(site.role_weights))
    imd = rng.integers(1, 6, size=n)
    w0 = rng.normal(-0.2 * (3 - imd) / 2.0, 1.0)
    anxious0 = rng.normal(0.0, 1.0, size=n) - 0.3 * w0
    p0 = rng.normal(-0.3, 0.9, size=n)
    present = {0: rng.random(n) >= 0.06}
    for wave in range(1, WAVES + 1):
        present[wave] = rng.random(n) < 0.75
    start = pd.Timestamp(design.start_date) + pd.Timedelta(days=60)
    rows: list[dict[str, object]] = []
    latent: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    wemwbs = instrument_registry()["wemwbs"].item_columns
    for wave in range(WAVES + 1):
        w = w0 + site.wellbeing_shift * wave
        anxious = anxious0 + site.anxiety_shift * wave
        p = p0 + site.paradigm_shift * wave
        latent[wave] = (w, anxious, p)
        occasion = rng.normal(0, OCCASION_SD, n)
        items = _wemwbs(w + occasion, rng)
        ons = _ons4(w + occasion, anxious + rng.normal(0, OCCASION_SD, n), rng)
        para = _paradigm_items(p + rng.normal(0, OCCASION_SD, n), rng)
        missing = rng.random((n, 18)) < 0.02
        days = rng.integers(0, 30, size=n)
        for i in np.flatnonzero(present[wave]):
            row: dict[str, object] = {
                "response_id": f"{design.prefix}-{i + 1:04d}-{wave}",
                "respondent_id": f"{design.prefix}{i + 1:04d}",
                "site_id": design.site_id, "wave": wave,
                "response_date": start + pd.Timedelta(days=182 * wave + int(days[i])),
                "role": ROLES[role[i]], "age_band": AGE_BANDS[age[i]],
                "sex": ("female", "male")[i % 2], "imd_quintile": int(imd[i]),
            }  # fmt: skip
            answers = [*items[i], *ons[i]]
            names = [*wemwbs, "ons4_1", "ons4_2", "ons4_3", "ons4_4"]
            for j, (name, value) in enumerate(zip(names, answers, strict=True)):
                row[name] = None if missing[i, j] else int(value)
            for j, item in enumerate(PARADIGM_STATEMENTS["item"]):
                row[f"para_{item}_now"] = int(para[i, j])
            row.update(story_text=None, story_aims=None, story_behaviours=None,
                       story_valence=None, story_expected=None, consent_story=None)  # fmt: skip
            rows.append(row)
    truth_rng = np.random.default_rng(rng.integers(2**32))
    base = _expected(*latent[0], truth_rng)
    truth: dict[str, object] = {}
    for wave in range(1, WAVES + 1):
        both = present[0] & present[wave]
        later = _expected(*latent[wave], truth_rng)
        truth[str(wave)] = {"respondents_in_both_waves": int(both.sum()),
                            **{m: round(float(np.mean(later[m][both] - base[m][both])), 4)
                               for m in base}}  # fmt: skip
    return pd.DataFrame(rows), truth


def _intended(site: NeighbourSite) -> pd.DataFrame:
    rows = []
    for outcome_id, statement, measure, target, weight, proposed_by, aim in site.design.intended:
        direction = "decrease" if measure in {"ons4_4", *COMPARISON_OUTCOMES} else "increase"
        rows.append({
            "site_id": site.design.site_id, "outcome_id": outcome_id, "statement": statement,
            "measure": measure, "direction": direction, "target": target, "weight": weight,
            "proposed_by": proposed_by, "aim": aim,
        })  # fmt: skip
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class SecondProgramme:
    tables: dict[str, pd.DataFrame]
    truth: dict[str, object]


def second_programme(seed: int = DEFAULT_SEED) -> SecondProgramme:
    """Neighbours in Health: every contract table and its truth, from one seed."""
    streams = np.random.SeedSequence(seed).spawn(len(SITES))
    parts: dict[str, list[pd.DataFrame]] = {t: [] for t in (
        "sites", "intended_outcomes", "survey_responses", "comparison_records", "value_items",
        "harvested_outcomes", "events")}  # fmt: skip
    truth_sites: dict[str, object] = {}
    treated: dict[str, int] = {}
    for site, stream in zip(SITES, streams, strict=True):
        survey_rng, comparison_rng, value_rng = (np.random.default_rng(s) for s in stream.spawn(3))
        design = site.design
        survey, survey_truth = _survey(site, survey_rng)
        comparison, comparison_truth = _comparison(design, comparison_rng)
        keep = ["person_id", "site_id", "group", "age", "sex", "imd_decile", "ltc_count"]
        keep += [f"{p}_{o}" for o in COMPARISON_OUTCOMES for p in ("pre", "post")]
        values, value_truth = _value_items(design, value_rng)
        parts["sites"].append(pd.DataFrame([{
            "site_id": design.site_id, "site_name": design.site_name,
            "care_model": design.care_model, "region": design.region,
            "start_date": pd.Timestamp(design.start_date)}]))  # fmt: skip
        parts["intended_outcomes"].append(_intended(site))
        parts["survey_responses"].append(survey)
        parts["comparison_records"].append(comparison[keep])
        parts["value_items"].append(values)
        parts["harvested_outcomes"].append(_harvested(design))
        parts["events"].append(_events(design))
        treated[design.site_id] = int(comparison_truth["n_participants"])  # type: ignore[call-overload]
        truth_sites[design.site_id] = {
            "site_name": design.site_name,
            "survey_change_from_baseline": survey_truth,
            "comparison_att": {o: comparison_truth[o] for o in COMPARISON_OUTCOMES},
            "value_account": value_truth,
        }
    tables = {"paradigm_statements": PARADIGM_STATEMENTS.copy()}
    tables.update({name: pd.concat(frames, ignore_index=True) for name, frames in parts.items()})
    truth = {"programme": TITLE, "seed": seed, "sites": truth_sites, "pooled": _pooled(truth_sites, treated),
             "definitions": {
        "survey_change_from_baseline": "Per follow-up wave: the mean, over respondents who "
        "answered the baseline and that wave, of the expected change in their WEMWBS score, "
        "each ONS4 item and the paradigm index (expectation over item and occasion noise).",
        "comparison_att": "Average effect on the treated per comparison outcome (and the rate "
        "ratio), as in the sample programme.",
        "pooled": "All sites together: the same changes over every respondent who answered the "
        "baseline and that wave, and the effect on the treated over every participant (each "
        "site's weighted by its people).",
    }}  # fmt: skip
    return SecondProgramme(tables, truth)


def _pooled(sites: dict[str, object], treated: dict[str, int]) -> dict[str, object]:
    """The pooled truth: each site's weighted by the people its own rests on (a site's change
    is a mean over its respondents seen twice, its ATT a mean over its participants)."""
    facts = {site: dict(value) for site, value in sites.items()}  # type: ignore[call-overload]
    change: dict[str, dict[str, float]] = {}
    for wave in map(str, range(1, WAVES + 1)):
        per_site = [f["survey_change_from_baseline"][wave] for f in facts.values()]
        people = np.array([c["respondents_in_both_waves"] for c in per_site], float)
        measures = [m for m in per_site[0] if m != "respondents_in_both_waves"]
        change[wave] = {"respondents_in_both_waves": int(people.sum()), **{
            m: round(float(np.average([c[m] for c in per_site], weights=people)), 4)
            for m in measures}}  # fmt: skip
    weights = np.array([treated[site] for site in facts], float)
    att = {o: {"att": round(float(np.average([f["comparison_att"][o]["att"] for f in facts.values()],
                                             weights=weights)), 4)}
           for o in COMPARISON_OUTCOMES}  # fmt: skip
    return {"survey_change_from_baseline": change, "comparison_att": att,
            "n_participants": int(weights.sum())}  # fmt: skip


SITE_TABLES: Final[tuple[str, ...]] = (
    "sites", "intended_outcomes", "survey_responses", "comparison_records", "value_items",
    "harvested_outcomes", "events",
)  # fmt: skip


def write_second_programme(programme: SecondProgramme, out_dir: Path) -> list[Path]:
    """The programme as its sites would send it: ``data/<site>.xlsx`` per site and
    ``data/paradigm_statements.csv``, beside ``programme.yaml`` and ``truth.json``."""
    data = out_dir / "data"
    data.mkdir(parents=True, exist_ok=True)
    written = []
    for site in SITES:
        sid = site.design.site_id
        sheets = {t: programme.tables[t][programme.tables[t]["site_id"] == sid].reset_index(drop=True)
                  for t in SITE_TABLES}  # fmt: skip
        path = data / f"{sid}.xlsx"
        write_workbook(path, sheets, title=f"{site.design.site_name}: evaluation data")
        written.append(path)
    catalogue = data / "paradigm_statements.csv"
    programme.tables["paradigm_statements"].to_csv(catalogue, index=False, lineterminator="\n")
    (out_dir / "programme.yaml").write_text(PROGRAMME_YAML, encoding="utf-8")
    (out_dir / "truth.json").write_text(
        json.dumps(programme.truth, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return [*written, catalogue, out_dir / "programme.yaml", out_dir / "truth.json"]
