"""A synthetic Health as a Social Movement programme with known true effects.

Six vanguard sites, every table of the data contract, baseline and follow-up
survey waves with attrition and missing answers, a matched-comparison extract
with confounded selection into participation, Revaluation story sessions,
harvested outcomes and event timelines. The data-generating process is simple
enough to state (see ``sample_data/README.md``) and its true effects are
written to ``truth.json`` so the models can be checked against them.

The generator is pure (``synthetic_programme(seed)`` returns frames and truth);
``write_sample_data`` is the only function that touches files. Same seed, same
library versions: same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from reval.contract import EMPOWERS_BEHAVIOURS, EMPOWERS_ITEMS, SWEMWBS_ITEMS, UCLA_ITEMS
from reval.scales import swemwbs_metric
from reval.spreadsheets import write_workbook

DEFAULT_SEED: Final[int] = 2021
"""Chosen by scripts/choose_sample_seed.py: the first seed from 2016 whose documented effects
all fall inside the models' 95% intervals (tests check coverage over fresh seeds separately)."""
GENERATOR_VERSION: Final[int] = 1
TRUTH_DRAWS: Final[int] = 400
"""Monte Carlo draws per respondent when computing expected score changes."""

COMPARISON_OUTCOMES: Final[tuple[str, ...]] = (
    "ae_visits",
    "gp_contacts",
    "admissions",
    "wellbeing",
)
COUNT_OUTCOMES: Final[frozenset[str]] = frozenset({"ae_visits", "gp_contacts", "admissions"})

PARADIGM_STATEMENTS: Final[pd.DataFrame] = pd.DataFrame(
    [
        ("professionals_know_best", "Health professionals know best what keeps people well.", "old", "knowledge"),
        ("lived_experience_counts", "What people have lived through is as valuable as professional knowledge.", "new", "knowledge"),
        ("nhs_job_to_keep_well", "Keeping people healthy is mainly the job of the NHS and care services.", "old", "responsibility"),
        ("community_has_what_it_takes", "Our community has the skills and resources to improve health here.", "new", "responsibility"),
        ("decided_for_us", "Decisions about local health and care are made for us, not with us.", "old", "power"),
        ("people_like_me_shape_care", "People like me can change how health and care works round here.", "new", "power"),
        ("care_means_treatment", "Health care is mostly about treating illness once it happens.", "old", "prevention"),
        ("wellbeing_starts_upstream", "Wellbeing starts in homes, streets and workplaces long before anyone needs a doctor.", "new", "prevention"),
    ],
    columns=["item", "statement", "paradigm", "theme"],
)  # fmt: skip

AGE_BANDS: Final[tuple[str, ...]] = ("16-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75+")
AGE_BAND_MIDPOINTS: Final[np.ndarray] = np.array([20, 30, 40, 50, 60, 70, 82], dtype=float)
ROLES: Final[tuple[str, ...]] = ("resident", "volunteer", "patient", "carer", "staff")
AIMS: Final[tuple[str, ...]] = (
    "care_delivery",
    "illness_experience",
    "healthy_lifestyles",
    "determinants",
    "knowledge",
    "norms",
    "innovation_policy",
)


@dataclass(frozen=True)
class SiteDesign:
    """What is true about one site: who takes part and what the movement changes."""

    site_id: str
    site_name: str
    care_model: str
    region: str
    start_date: dt.date
    prefix: str
    respondents: int
    role_weights: tuple[float, float, float, float, float]
    age_weights: tuple[float, ...]
    follow_up_waves: int
    wellbeing_shift: float  # latent SD units per follow-up wave
    loneliness_shift: float  # latent SD units per follow-up wave (negative = less lonely)
    paradigm_shift: float  # latent SD units per follow-up wave (towards the new paradigm)
    empowers_change: dict[str, float]  # rating points per follow-up wave
    population: int  # people in the comparison extract
    participation_rate: float
    age_mean: float
    age_sd: float
    rate_ratios: dict[str, float]  # true effect on the treated, multiplicative, count outcomes
    wellbeing_att: float  # true effect on the treated, metric points, comparison 'wellbeing'
    intended: tuple[tuple[str, str, str, float, float, str, str], ...] = field(default=())
    # (outcome_id, statement, measure, target, weight, proposed_by, aim)


SITE_DESIGNS: Final[tuple[SiteDesign, ...]] = (
    SiteDesign(
        site_id="wellbeing_erewash",
        site_name="Wellbeing Erewash",
        care_model="Multispecialty community provider: time banking, youth resilience and asset-based community development",
        region="East Midlands",
        start_date=dt.date(2016, 4, 1),
        prefix="WE",
        respondents=260,
        role_weights=(0.55, 0.25, 0.08, 0.07, 0.05),
        age_weights=(0.14, 0.14, 0.15, 0.16, 0.16, 0.14, 0.11),
        follow_up_waves=2,
        wellbeing_shift=0.35,
        loneliness_shift=-0.30,
        paradigm_shift=0.40,
        empowers_change={"mobilises": 1.2, "powers": 0.8, "experiments": 0.6},
        population=2200,
        participation_rate=0.14,
        age_mean=48,
        age_sd=18,
        rate_ratios={"ae_visits": 0.85, "gp_contacts": 0.92, "admissions": 0.95},
        wellbeing_att=1.2,
        intended=(
            ("io1", "People taking part feel better in themselves", "swemwbs", 1.5, 2.0, "participants", "illness_experience"),
            ("io2", "Fewer people feel cut off from others", "ucla3", 0.4, 1.0, "joint", "determinants"),
            ("io3", "People see their community as a source of health, not just services", "paradigm_index", 0.3, 1.0, "joint", "norms"),
            ("io4", "The movement mobilises local people's strengths", "emp_mobilises", 1.0, 1.0, "participants", "norms"),
            ("io5", "Less reliance on A&E", "ae_visits", 0.2, 1.0, "funder", "care_delivery"),
        ),
    ),
    SiteDesign(
        site_id="royal_free_staff",
        site_name="Royal Free London staff wellbeing",
        care_model="Acute care collaboration: staff health and wellbeing, focused on lower-paid staff",
        region="London",
        start_date=dt.date(2016, 6, 1),
        prefix="RF",
        respondents=300,
        role_weights=(0.0, 0.10, 0.0, 0.0, 0.90),
        age_weights=(0.12, 0.26, 0.24, 0.20, 0.15, 0.03, 0.0),
        follow_up_waves=1,
        wellbeing_shift=0.25,
        loneliness_shift=-0.10,
        paradigm_shift=0.15,
        empowers_change={"empathises": 0.9, "selfgoverns": 0.5},
        population=2600,
        participation_rate=0.12,
        age_mean=40,
        age_sd=11,
        rate_ratios={"ae_visits": 1.0, "gp_contacts": 0.90, "admissions": 1.0},
        wellbeing_att=1.5,
        intended=(
            ("io1", "Lower-paid staff report better wellbeing", "swemwbs", 1.0, 2.0, "staff", "healthy_lifestyles"),
            ("io2", "Staff feel their voice shapes wellbeing support", "emp_powers", 1.0, 1.0, "staff", "norms"),
            ("io3", "Fewer GP contacts for stress-related problems", "gp_contacts", 0.3, 1.0, "funder", "care_delivery"),
        ),
    ),
    SiteDesign(
        site_id="stockport_together",
        site_name="Stockport Together",
        care_model="Multispecialty community provider with Oldham and Tameside: loneliness, food and arts",
        region="North West",
        start_date=dt.date(2016, 5, 1),
        prefix="ST",
        respondents=280,
        role_weights=(0.50, 0.30, 0.10, 0.10, 0.0),
        age_weights=(0.08, 0.10, 0.12, 0.15, 0.18, 0.20, 0.17),
        follow_up_waves=1,
        wellbeing_shift=0.20,
        loneliness_shift=-0.45,
        paradigm_shift=0.30,
        empowers_change={"empathises": 0.6, "mobilises": 0.9},
        population=2400,
        participation_rate=0.13,
        age_mean=58,
        age_sd=17,
        rate_ratios={"ae_visits": 0.90, "gp_contacts": 0.88, "admissions": 0.92},
        wellbeing_att=1.0,
        intended=(
            ("io1", "Fewer people are lonely", "ucla3", 0.5, 2.0, "participants", "determinants"),
            ("io2", "People eat and cook together more and feel better for it", "swemwbs", 1.0, 1.0, "joint", "healthy_lifestyles"),
            ("io3", "Fewer GP appointments driven by isolation", "gp_contacts", 0.3, 1.0, "staff", "care_delivery"),
        ),
    ),
    SiteDesign(
        site_id="gm_cancer",
        site_name="Greater Manchester Cancer Vanguard",
        care_model="Cancer prevention and survivorship: cancer champions, expert patients and digital self-care",
        region="North West",
        start_date=dt.date(2016, 7, 1),
        prefix="GM",
        respondents=240,
        role_weights=(0.30, 0.35, 0.25, 0.10, 0.0),
        age_weights=(0.04, 0.08, 0.12, 0.18, 0.24, 0.22, 0.12),
        follow_up_waves=1,
        wellbeing_shift=0.15,
        loneliness_shift=-0.15,
        paradigm_shift=0.50,
        empowers_change={"mobilises": 0.7, "rages": 1.0, "orbits": 0.6},
        population=2000,
        participation_rate=0.15,
        age_mean=60,
        age_sd=13,
        rate_ratios={"ae_visits": 0.95, "gp_contacts": 1.10, "admissions": 0.90},
        wellbeing_att=0.5,
        intended=(
            ("io1", "Champions and patients see prevention as everyone's business", "paradigm_index", 0.4, 2.0, "joint", "knowledge"),
            ("io2", "Fewer emergency admissions for cancer", "admissions", 0.1, 1.0, "funder", "care_delivery"),
            ("io3", "The movement speaks up for people affected by cancer", "emp_rages", 1.0, 1.0, "participants", "innovation_policy"),
        ),
    ),
    SiteDesign(
        site_id="airedale_care_homes",
        site_name="Airedale care homes",
        care_model="Enhanced health in care homes: telemedicine and Dementia Friends connecting homes with their communities",
        region="Yorkshire and the Humber",
        start_date=dt.date(2016, 5, 15),
        prefix="AC",
        respondents=220,
        role_weights=(0.35, 0.15, 0.0, 0.25, 0.25),
        age_weights=(0.02, 0.05, 0.08, 0.12, 0.15, 0.23, 0.35),
        follow_up_waves=2,
        wellbeing_shift=0.10,
        loneliness_shift=-0.20,
        paradigm_shift=0.10,
        empowers_change={"empathises": 0.8},
        population=1800,
        participation_rate=0.16,
        age_mean=78,
        age_sd=10,
        rate_ratios={"ae_visits": 0.80, "gp_contacts": 1.0, "admissions": 0.85},
        wellbeing_att=0.0,
        intended=(
            ("io1", "Fewer residents taken to A&E", "ae_visits", 0.3, 2.0, "staff", "care_delivery"),
            ("io2", "Fewer unplanned admissions from care homes", "admissions", 0.1, 1.0, "funder", "care_delivery"),
            ("io3", "Residents feel less isolated from the wider community", "ucla3", 0.3, 1.0, "joint", "determinants"),
            ("io4", "Residents and carers feel better in themselves", "swemwbs", 1.0, 1.0, "participants", "illness_experience"),
        ),
    ),
    SiteDesign(
        site_id="morecambe_bay",
        site_name="Better Care Together Morecambe Bay",
        care_model="Integrated primary and acute care system: resident action groups, health magazines and pharmacy schemes",
        region="North West",
        start_date=dt.date(2016, 4, 15),
        prefix="MB",
        respondents=250,
        role_weights=(0.60, 0.25, 0.10, 0.05, 0.0),
        age_weights=(0.08, 0.12, 0.14, 0.16, 0.18, 0.18, 0.14),
        follow_up_waves=1,
        wellbeing_shift=0.0,
        loneliness_shift=0.0,
        paradigm_shift=0.35,
        empowers_change={"powers": 1.1, "selfgoverns": 1.0, "orbits": 0.7},
        population=2100,
        participation_rate=0.13,
        age_mean=55,
        age_sd=18,
        rate_ratios={"ae_visits": 1.0, "gp_contacts": 0.95, "admissions": 1.0},
        wellbeing_att=0.0,
        intended=(
            ("io1", "Residents shape how local services are run", "emp_powers", 1.0, 2.0, "participants", "innovation_policy"),
            ("io2", "Residents feel better in themselves", "swemwbs", 1.0, 1.0, "joint", "illness_experience"),
            ("io3", "Residents see health as something they make together", "paradigm_index", 0.3, 1.0, "joint", "norms"),
            ("io4", "Fewer A&E visits", "ae_visits", 0.2, 1.0, "funder", "care_delivery"),
        ),
    ),
)  # fmt: skip


@dataclass(frozen=True)
class SyntheticProgramme:
    """Every contract table for the programme, and what is true about it."""

    tables: dict[str, pd.DataFrame]
    truth: dict[str, object]

    def site_tables(self, site_id: str) -> dict[str, pd.DataFrame]:
        """One site's rows of every site-scoped table (what its coordinator sends)."""
        return {
            name: frame.loc[frame["site_id"] == site_id].reset_index(drop=True)
            for name, frame in self.tables.items()
            if "site_id" in frame.columns
        }


# --- item response model ----------------------------------------------------------------------
# Each scale item is a rounded, clipped noisy reading of a latent trait. Keeping the
# mapping in one function lets the truth be computed from the same model as the data.

SWEMWBS_OFFSETS = np.array([-0.10, 0.15, -0.35, 0.0, 0.10, 0.05, 0.25])
UCLA_OFFSETS = np.array([0.0, -0.10, 0.05])
ITEM_NOISE_SD = 0.55
OCCASION_SD = 0.35


def _likert(
    latent: np.ndarray,
    centre: float,
    slope: float,
    offsets: np.ndarray,
    low: int,
    high: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Items (rows x len(offsets)) from a latent trait (rows,)."""
    noise = rng.normal(0.0, ITEM_NOISE_SD, size=(latent.shape[0], offsets.shape[0]))
    raw = centre + slope * latent[:, None] + offsets[None, :] + noise
    return np.clip(np.rint(raw), low, high).astype(int)  # fmt: skip


def _swemwbs_items(w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _likert(w, 3.3, 0.85, SWEMWBS_OFFSETS, 1, 5, rng)


def _ucla_items(lonely: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _likert(lonely, 1.6, 0.7, UCLA_OFFSETS, 1, 3, rng)


def _paradigm_items(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Agreement on PARADIGM_STATEMENTS rows: new items rise with p, old items fall."""
    sign = np.where(PARADIGM_STATEMENTS["paradigm"].to_numpy() == "new", 1.0, -1.0)
    offsets = np.linspace(-0.2, 0.2, len(sign))
    noise = rng.normal(0.0, ITEM_NOISE_SD, size=(p.shape[0], len(sign)))
    raw = 3.0 + 0.8 * sign[None, :] * p[:, None] + offsets[None, :] + noise
    return np.clip(np.rint(raw), 1, 5).astype(int)


def _expected_scores(
    w: np.ndarray, lonely: np.ndarray, p: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Expected SWEMWBS metric, UCLA-3 and paradigm index per person, by Monte Carlo."""
    n = w.shape[0]
    rep_w = np.repeat(w, TRUTH_DRAWS) + rng.normal(0, OCCASION_SD, n * TRUTH_DRAWS)
    rep_l = np.repeat(lonely, TRUTH_DRAWS) + rng.normal(0, OCCASION_SD, n * TRUTH_DRAWS)
    rep_p = np.repeat(p, TRUTH_DRAWS) + rng.normal(0, OCCASION_SD, n * TRUTH_DRAWS)
    metric = swemwbs_metric(_swemwbs_items(rep_w, rng).sum(axis=1))
    ucla = _ucla_items(rep_l, rng).sum(axis=1).astype(float)
    items = _paradigm_items(rep_p, rng).astype(float)
    new = PARADIGM_STATEMENTS["paradigm"].to_numpy() == "new"
    index = items[:, new].mean(axis=1) - items[:, ~new].mean(axis=1)
    return {
        name: values.reshape(n, TRUTH_DRAWS).mean(axis=1)
        for name, values in (("swemwbs", metric), ("ucla3", ucla), ("paradigm_index", index))
    }  # fmt: skip


# --- survey -----------------------------------------------------------------------------------

STORY_SNIPPETS: Final[tuple[tuple[str, str, str, int, str], ...]] = (
    ("I started going to the Tuesday group and now I know people on my street by name.", "determinants", "mobilises;empathises", 2, "no"),
    ("Someone finally listened to what it is like caring for my mum every day.", "illness_experience", "empathises", 1, "yes"),
    ("We ran our own stall at the market about cooking on a budget.", "healthy_lifestyles", "experiments;mobilises", 2, "unsure"),
    ("I was asked to sit on the planning group, which I never thought would happen to someone like me.", "innovation_policy", "powers;selfgoverns", 2, "no"),
    ("The meetings got fewer after the funding changed and people drifted away.", "norms", "waves", -1, "no"),
    ("I learnt how to talk to my GP about what matters to me, not just my tablets.", "knowledge", "powers", 1, "yes"),
    ("We wrote to the council about the bus route to the surgery and they changed it.", "determinants", "rages;orbits", 2, "no"),
    ("Too many forms - it started to feel like another service rather than our group.", "care_delivery", "orbits", -2, "no"),
    ("I use the time bank now and help with gardening in exchange for lifts.", "determinants", "mobilises;experiments", 1, "yes"),
    ("Staff from the home came to the community cafe and residents joined in.", "norms", "empathises;orbits", 2, "unsure"),
)  # fmt: skip


def _survey(
    design: SiteDesign, rng: np.random.Generator, dropout_on_wellbeing: float = 0.0
) -> tuple[pd.DataFrame, dict[str, object]]:
    """``dropout_on_wellbeing`` > 0: people with lower baseline SWEMWBS answers leave more
    often (that many logits per SD of their baseline raw sum) and gain more (selective
    dropout that biases a completers-only change); 0 keeps the sample data as shipped."""
    n = design.respondents
    role = rng.choice(
        len(ROLES), size=n, p=np.array(design.role_weights) / sum(design.role_weights)
    )
    age = rng.choice(
        len(AGE_BANDS), size=n, p=np.array(design.age_weights) / sum(design.age_weights)
    )
    sex = rng.choice(4, size=n, p=[0.56, 0.41, 0.015, 0.015])
    imd = rng.integers(1, 6, size=n)
    deprivation = (3 - imd) / 2.0  # +1 most deprived
    w0 = rng.normal(-0.25 * deprivation, 1.0)
    lonely0 = rng.normal(0.2 * deprivation + 0.1 * (age >= 6), 1.0) - 0.3 * w0
    p0 = rng.normal(-0.3 + 0.2 * (ROLES.index("volunteer") == role), 0.9)
    emp_person = rng.normal(0.0, 1.2, size=n)
    emp_site = rng.normal(5.0, 0.8, size=len(EMPOWERS_BEHAVIOURS))

    baseline_start = pd.Timestamp(design.start_date) + pd.Timedelta(days=75)
    waves = range(design.follow_up_waves + 1)
    # who answers which wave: 8% join only at follow-up; follow-up retention depends on age
    joined_late = rng.random(n) < 0.08
    retention = 1 / (1 + np.exp(-(0.9 + 0.25 * (age >= 4) - 0.2 * deprivation)))
    present = {0: ~joined_late}
    stay_draws = {}
    for wave in waves:
        if wave > 0:
            stay_draws[wave] = rng.random(n)
            present[wave] = stay_draws[wave] < retention
    w0_z = (w0 - w0.mean()) / w0.std()

    rows: list[dict[str, object]] = []
    latent_by_wave: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for wave in waves:
        w = w0 + design.wellbeing_shift * wave * (1 - 0.5 * w0_z if dropout_on_wellbeing else 1)
        lonely = lonely0 + design.loneliness_shift * wave
        p = p0 + design.paradigm_shift * wave
        latent_by_wave[wave] = (w, lonely, p)
        sw = _swemwbs_items(w + rng.normal(0, OCCASION_SD, n), rng)
        if wave == 0 and dropout_on_wellbeing:
            raw = sw.sum(axis=1)
            odds = (
                np.log(retention / (1 - retention))
                + dropout_on_wellbeing * (raw - raw.mean()) / raw.std()
            )
            for later_wave, draws in stay_draws.items():
                present[later_wave] = draws < 1 / (1 + np.exp(-odds))
        uc = _ucla_items(lonely + rng.normal(0, OCCASION_SD, n), rng)
        para_now = _paradigm_items(p + rng.normal(0, OCCASION_SD, n), rng)
        # looking back, people remember themselves as further from the new paradigm than
        # they said at baseline (response shift of -0.25 latent units)
        para_before = _paradigm_items(p0 - 0.25 + rng.normal(0, OCCASION_SD, n), rng)
        change = np.array([design.empowers_change.get(b, 0.0) for b in EMPOWERS_BEHAVIOURS])
        emp = np.clip(
            np.rint(
                emp_site[None, :]
                + change[None, :] * wave
                + emp_person[:, None]
                + rng.normal(0, 1.0, (n, len(EMPOWERS_BEHAVIOURS)))
            ),
            0,
            10,
        ).astype(int)
        days = rng.integers(0, 42, size=n)
        skip_paradigm = rng.random(n) < 0.02
        missing = rng.random((n, 7 + 3 + 8)) < 0.025
        story = rng.random(n) < 0.3
        story_pick = rng.integers(0, len(STORY_SNIPPETS), size=n)
        consent = rng.random(n) < 0.8
        for i in np.flatnonzero(present[wave]):
            row: dict[str, object] = {
                "response_id": f"{design.prefix}-{i + 1:04d}-W{wave}",
                "respondent_id": f"{design.prefix}{i + 1:04d}",
                "site_id": design.site_id,
                "wave": wave,
                "response_date": baseline_start + pd.Timedelta(days=365 * wave + int(days[i])),
                "role": ROLES[role[i]],
                "age_band": AGE_BANDS[age[i]],
                "sex": ("female", "male", "other", "prefer_not_to_say")[sex[i]],
                "imd_quintile": int(imd[i]),
            }
            answers = [*sw[i], *uc[i], *emp[i]]
            names = [*SWEMWBS_ITEMS, *UCLA_ITEMS, *EMPOWERS_ITEMS]
            for j, (name, value) in enumerate(zip(names, answers, strict=True)):
                row[name] = None if missing[i, j] else int(value)
            for j, item in enumerate(PARADIGM_STATEMENTS["item"]):
                row[f"para_{item}_now"] = None if skip_paradigm[i] else int(para_now[i, j])
            for j, item in enumerate(PARADIGM_STATEMENTS["item"]):
                row[f"para_{item}_before"] = (
                    None if wave == 0 or skip_paradigm[i] else int(para_before[i, j])
                )
            if story[i]:
                text, aims, behaviours, valence, expected = STORY_SNIPPETS[story_pick[i]]
                row.update(
                    story_text=text,
                    story_aims=aims,
                    story_behaviours=behaviours,
                    story_valence=valence,
                    story_expected=expected,
                    consent_story="yes" if consent[i] else "no",
                )
            else:
                row.update(
                    story_text=None,
                    story_aims=None,
                    story_behaviours=None,
                    story_valence=None,
                    story_expected=None,
                    consent_story=None,
                )
            rows.append(row)

    truth_rng = np.random.default_rng(rng.integers(2**32))
    base_expect = _expected_scores(*latent_by_wave[0], truth_rng)
    truth: dict[str, object] = {}
    for wave in waves:
        if wave == 0:
            continue
        both = present[0] & present[wave]
        later = _expected_scores(*latent_by_wave[wave], truth_rng)
        truth[str(wave)] = {
            "respondents_in_both_waves": int(both.sum()),
            **{m: round(float(np.mean(later[m][both] - base_expect[m][both])), 4)
               for m in ("swemwbs", "ucla3", "paradigm_index")},
            **{f"emp_{b}": round(float(np.mean(
                _expected_rating_change(emp_site[k], design.empowers_change.get(b, 0.0), wave,
                                        emp_person[both]))), 4)
               for k, b in enumerate(EMPOWERS_BEHAVIOURS)},
        }  # fmt: skip
        if dropout_on_wellbeing:
            cohort = present[0]
            truth[str(wave)]["whole_baseline_cohort"] = {
                "respondents": int(cohort.sum()),
                **{m: round(float(np.mean(later[m][cohort] - base_expect[m][cohort])), 4)
                   for m in ("swemwbs", "ucla3")},
            }  # fmt: skip
    return pd.DataFrame(rows), truth


def _expected_rating_change(
    site_level: float, change: float, wave: int, person: np.ndarray
) -> np.ndarray:
    """E[clip(round(mu + e))] difference, by numerical expectation over e ~ N(0, 1)."""
    grid = np.linspace(-5, 5, 2001)
    weights = np.exp(-0.5 * grid**2)
    weights /= weights.sum()

    def expected(mu: np.ndarray) -> np.ndarray:
        return (np.clip(np.rint(mu[:, None] + grid[None, :]), 0, 10) * weights).sum(axis=1)

    return expected(site_level + change * wave + person) - expected(site_level + person)


# --- matched-comparison extract ---------------------------------------------------------------

BASE_RATES: Final[dict[str, float]] = {"ae_visits": 0.35, "gp_contacts": 4.0, "admissions": 0.12}


def _comparison(
    design: SiteDesign, rng: np.random.Generator
) -> tuple[pd.DataFrame, dict[str, object]]:
    n = design.population
    age = np.clip(np.rint(rng.normal(design.age_mean, design.age_sd, n)), 18, 104).astype(int)
    sex = rng.choice(2, size=n, p=[0.53, 0.47])
    imd = rng.integers(1, 11, size=n)
    ltc = rng.poisson(np.exp(-1.2 + 0.03 * (age - 40).clip(0)))
    z_age = (age - 60) / 15
    z_imd = (5.5 - imd) / 2.9  # + = more deprived
    # Confounded selection: older, more deprived people with more long-term conditions
    # are both more likely to take part and heavier users of services.
    base_logit = 0.35 * z_age + 0.30 * z_imd + 0.25 * ltc + 0.2 * sex
    shift = _logit_intercept(base_logit, design.participation_rate)
    treated = rng.random(n) < 1 / (1 + np.exp(-(shift + base_logit)))

    frailty = rng.gamma(shape=4.0, scale=0.25, size=n)  # mean 1: unmeasured, unconfounded
    frame = pd.DataFrame({
        "person_id": [f"{design.prefix}P{i + 1:05d}" for i in range(n)],
        "site_id": design.site_id,
        "group": np.where(treated, "participant", "comparison"),
        "age": age,
        "sex": np.where(sex == 0, "female", "male"),
        "imd_decile": imd,
        "ltc_count": ltc,
    })  # fmt: skip
    truth: dict[str, object] = {}
    for outcome in COMPARISON_OUTCOMES:
        if outcome in COUNT_OUTCOMES:
            mu = BASE_RATES[outcome] * frailty * np.exp(0.25 * z_age + 0.15 * z_imd + 0.20 * ltc)
            rr = design.rate_ratios[outcome]
            pre = rng.poisson(mu).astype(float)
            post_mu0 = mu * 1.05  # secular trend for everyone
            post = rng.poisson(post_mu0 * np.where(treated, rr, 1.0)).astype(float)
            att = float(np.mean(post_mu0[treated] * (rr - 1.0)))
            truth[outcome] = {"att": round(att, 4), "rate_ratio": rr, "kind": "count"}
        else:
            level = 23.5 - 0.8 * z_imd - 0.5 * ltc + rng.normal(0, 3.0, n)
            pre = np.round(level + rng.normal(0, 1.5, n), 2)
            post = np.round(level + 0.3 + design.wellbeing_att * treated + rng.normal(0, 1.5, n), 2)
            truth[outcome] = {"att": design.wellbeing_att, "kind": "continuous"}
        pre[rng.random(n) < 0.02] = np.nan
        frame[f"pre_{outcome}"] = pre
        frame[f"post_{outcome}"] = post
    truth["n_participants"] = int(treated.sum())
    truth["n_comparison"] = int((~treated).sum())
    return frame, truth


def _logit_intercept(linear: np.ndarray, rate: float) -> float:
    """Intercept that makes the mean participation probability equal ``rate``."""
    lo, hi = -15.0, 15.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if np.mean(1 / (1 + np.exp(-(mid + linear)))) < rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


# --- Revaluation sessions, harvested outcomes, events -------------------------------------

VALUE_ITEMS: Final[tuple[tuple[str, str, float | None], ...]] = (
    ("Fewer lonely evenings", "calibrate", None),
    ("Lifts to appointments from the time bank", "calculate", 420.0),
    ("New volunteers trained as connectors", "capacitate", None),
    ("Fewer GP visits for low mood", "calculate", 180.0),
    ("Confidence to speak at the partnership board", "capacitate", None),
    ("Meals cooked together each week", "calculate", 650.0),
    ("Carers feeling listened to", "calibrate", None),
    ("A residents' group that runs itself", "capacitate", None),
    ("Hours of peer support given", "calculate", 900.0),
    ("Worth the effort of the street party", "calibrate", None),
)  # fmt: skip


def _value_items(
    design: SiteDesign, rng: np.random.Generator
) -> tuple[pd.DataFrame, dict[str, object]]:
    sessions = [pd.Timestamp(design.start_date) + pd.Timedelta(days=d) for d in (240, 480)]
    rows = []
    first_round: list[tuple[str, str, str, bool]] = []
    for s in range(6):
        story_id = f"s{s + 1:02d}"
        for k in rng.choice(len(VALUE_ITEMS), size=3, replace=False):
            item, kind, proxy = VALUE_ITEMS[k]
            invisible = rng.random() < 0.55
            first_round.append((story_id, item, kind, invisible))
    moved = 0
    for round_index, session in enumerate(sessions):
        for story_id, item, kind, invisible in first_round:
            if round_index == 1:
                becomes_visible = invisible and rng.random() < 0.5
                moved += int(becomes_visible)
                invisible = invisible and not becomes_visible
            proxy = next(p for i, _, p in VALUE_ITEMS if i == item)
            rows.append({
                "site_id": design.site_id,
                "session_date": session,
                "story_id": story_id,
                "item": item,
                "value_kind": kind,
                "visibility": "invisible" if invisible else "visible",
                "evidence": None if invisible else "Session notes and participants' accounts",
                "proxy_value_gbp": proxy if kind == "calculate" else None,
                "settled": "yes" if rng.random() < (0.55 + 0.2 * round_index) else "no",
            })  # fmt: skip
    return pd.DataFrame(rows), {"items_moved_invisible_to_visible": moved}


def _harvested(design: SiteDesign) -> pd.DataFrame:
    first = design.intended[0]
    rows = [
        (f"Participants at {design.site_name} reported: {first[1].lower()}", "Participants",
         "Shows the intended change is happening for the people involved", "Regular group activity",
         "yes", "positive", "Partner organisation lead", first[0]),
        ("Local councillors started attending community meetings and acting on what they heard",
         "Local councillors", "Opens a route from residents to decisions on the wider determinants",
         "Residents invited councillors and kept the meetings going", "no", "positive", None, None),
        ("Some volunteers burnt out and stepped back after the busiest months", "Volunteers",
         "A cost of the movement's success that nobody planned for",
         "Demand grew faster than the number of organisers", "no", "negative", "Volunteer coordinator", None),
        ("A GP practice changed its appointment system after residents' feedback", "GP practice staff",
         "Services adapting to people rather than the other way round",
         "Residents collected and presented the feedback themselves", "no", "positive", "Practice manager", None),
    ]  # fmt: skip
    columns = ["description", "who_changed", "significance", "contribution", "anticipated",
               "valence", "substantiated_by", "outcome_id"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    frame.insert(0, "site_id", design.site_id)
    return frame


def _events(design: SiteDesign) -> pd.DataFrame:
    start = pd.Timestamp(design.start_date)
    plan = [
        (-120, "context", "enduring_crisis", "Pressure on local services and rising isolation named by residents"),
        (0, "launch", "emergence", f"{design.site_name} launched with a community event"),
        (60, "baseline_survey", "emergence", "Baseline participatory survey opened"),
        (150, "campaign", "emergence", "First community-led campaign"),
        (240, "story_session", "impact_formalisation", "First Revaluation story session"),
        (330, "funding", "impact_formalisation", "Partners agreed a small grants fund run by residents"),
        (425, "follow_up_survey", "impact_formalisation", "Follow-up participatory survey opened"),
        (480, "story_session", "adaptation", "Second Revaluation story session"),
        (560, "setback", "adaptation", "Key organiser left; group reorganised around three leads"),
    ]  # fmt: skip
    return pd.DataFrame({
        "site_id": design.site_id,
        "event_date": [start + pd.Timedelta(days=d) for d, *_ in plan],
        "event_type": [t for _, t, _, _ in plan],
        "phase": [p for _, _, p, _ in plan],
        "description": [d for _, _, _, d in plan],
    })  # fmt: skip


def _intended(design: SiteDesign) -> pd.DataFrame:
    rows = []
    for outcome_id, statement, measure, target, weight, proposed_by, aim in design.intended:
        direction = "decrease" if measure in {"ucla3", *COUNT_OUTCOMES} else "increase"
        rows.append({
            "site_id": design.site_id, "outcome_id": outcome_id, "statement": statement,
            "measure": measure, "direction": direction, "target": target, "weight": weight,
            "proposed_by": proposed_by, "aim": aim,
            "gas_m2": round(-target, 3), "gas_m1": round(target / 2, 3),
            "gas_p1": round(target * 1.5, 3), "gas_p2": round(target * 2, 3),
        })  # fmt: skip
    return pd.DataFrame(rows)


# --- the programme ----------------------------------------------------------------------------


def synthetic_programme(
    seed: int = DEFAULT_SEED, *, dropout_on_wellbeing: float = 0.0
) -> SyntheticProgramme:
    """The six-site programme and its truth, from one seed. ``dropout_on_wellbeing`` > 0
    makes follow-up dropout depend on baseline wellbeing (see ``_survey``) and adds the
    true change for the whole baseline cohort to the truth; off by default, so the
    shipped sample data stay byte-identical."""
    root = np.random.SeedSequence(seed)
    site_streams = root.spawn(len(SITE_DESIGNS))
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in (
        "sites", "intended_outcomes", "survey_responses", "comparison_records",
        "value_items", "harvested_outcomes", "events")}  # fmt: skip
    truth_sites: dict[str, object] = {}
    for design, stream in zip(SITE_DESIGNS, site_streams, strict=True):
        survey_rng, comparison_rng, value_rng = (np.random.default_rng(s) for s in stream.spawn(3))
        survey, survey_truth = _survey(design, survey_rng, dropout_on_wellbeing)
        comparison, comparison_truth = _comparison(design, comparison_rng)
        values, value_truth = _value_items(design, value_rng)
        parts["sites"].append(pd.DataFrame([{
            "site_id": design.site_id, "site_name": design.site_name,
            "care_model": design.care_model, "region": design.region,
            "start_date": pd.Timestamp(design.start_date),
        }]))  # fmt: skip
        parts["intended_outcomes"].append(_intended(design))
        parts["survey_responses"].append(survey)
        parts["comparison_records"].append(comparison)
        parts["value_items"].append(values)
        parts["harvested_outcomes"].append(_harvested(design))
        parts["events"].append(_events(design))
        named = {m for _, _, m, *_ in design.intended}
        truth_sites[design.site_id] = {
            "survey_change_from_baseline": survey_truth,
            "comparison_att": comparison_truth,
            "value_account": value_truth,
            "response_shift_latent": -0.25,
            "measures_not_named_in_intended_outcomes": sorted(
                {"swemwbs", "ucla3", "paradigm_index", *COUNT_OUTCOMES} - named),
        }  # fmt: skip
    tables = {"paradigm_statements": PARADIGM_STATEMENTS.copy()}
    tables.update({name: pd.concat(frames, ignore_index=True) for name, frames in parts.items()})
    truth = {
        "seed": seed,
        "generator_version": GENERATOR_VERSION,
        "definitions": TRUTH_DEFINITIONS,
        "sites": truth_sites,
    }
    return SyntheticProgramme(tables=tables, truth=truth)


TRUTH_DEFINITIONS: Final[dict[str, str]] = {
    "survey_change_from_baseline": (
        "Per follow-up wave: the mean, over respondents who answered both the baseline and that "
        "wave, of the expected change in their score (SWEMWBS metric score, UCLA-3 sum, "
        "paradigm index, and each EMPOWERS rating), the expectation taken over item and "
        "occasion noise of the data-generating model. This is the estimand of a paired "
        "change analysis on complete item sets."
    ),
    "comparison_att": (
        "Per outcome: the average effect on the treated, mean over participants of "
        "E[post | treated] - E[post | not treated] given their covariates and unmeasured "
        "frailty. Count outcomes also give the true rate ratio (the effect is multiplicative). "
        "Selection into participation depends on age, deprivation, long-term conditions and "
        "sex, all of which also drive service use: a naive comparison is biased."
    ),
    "response_shift_latent": (
        "Retrospective 'before' paradigm ratings are drawn from the baseline latent "
        "orientation shifted by this amount (people remember themselves as further from the "
        "new paradigm than they reported at the time)."
    ),
    "value_account": "Count of value items that were invisible at the first story session and visible at the second.",
    "measures_not_named_in_intended_outcomes": (
        "Measures that changed (or could have) without any intended outcome naming them: "
        "candidates for unintended outcomes."
    ),
}


# --- files ------------------------------------------------------------------------------------

WORKBOOK_TABLES: Final[tuple[str, ...]] = (
    "sites", "intended_outcomes", "survey_responses", "comparison_records",
    "value_items", "harvested_outcomes", "events",
)  # fmt: skip


def write_sample_data(programme: SyntheticProgramme, out_dir: Path) -> list[Path]:
    """Write the programme as sites would send it: one workbook per site, plus the
    programme-wide paradigm catalogue as CSV, and ``truth.json``. Returns the files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "workbooks").mkdir(exist_ok=True)
    written: list[Path] = []
    for design in SITE_DESIGNS:
        site_tables = programme.site_tables(design.site_id)
        path = out_dir / "workbooks" / f"{design.site_id}.xlsx"
        write_workbook(
            path,
            {name: site_tables[name] for name in WORKBOOK_TABLES},
            title=f"{design.site_name}: evaluation data",
        )
        written.append(path)
    catalogue = out_dir / "paradigm_statements.csv"
    programme.tables["paradigm_statements"].to_csv(catalogue, index=False, lineterminator="\n")
    written.append(catalogue)
    truth = out_dir / "truth.json"
    truth.write_text(json.dumps(programme.truth, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    written.append(truth)
    return written
