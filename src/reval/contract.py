"""The data contract: the tables sites upload, as pandera schemas stored in YAML.

``schemas/*.yaml`` is the source of truth. This module loads it, registers the
custom checks the YAML names (so the schemas round-trip through pandera's
``to_yaml``/``from_yaml``), and answers questions about the contract that
readers, templates and the warehouse need: which tables exist, their keys,
which answer scale a column uses and which values a column allows.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.compute as pc
import yaml
from pandera import extensions

from reval.config import SCHEMAS_DIR
from reval.programme import DEFAULT_PROGRAMME_YAML, Programme, parse_programme

TableName = Literal[
    "sites",
    "paradigm_statements",
    "intended_outcomes",
    "survey_responses",
    "comparison_records",
    "value_items",
    "harvested_outcomes",
    "events",
]

TABLES: Final[tuple[TableName, ...]] = (
    "sites",
    "paradigm_statements",
    "intended_outcomes",
    "survey_responses",
    "comparison_records",
    "value_items",
    "harvested_outcomes",
    "events",
)
"""Every contract table, in load order (referenced tables first)."""

SITE_SCOPED_TABLES: Final[frozenset[str]] = frozenset(TABLES) - {"paradigm_statements"}
"""Tables whose rows belong to one site (``paradigm_statements`` is programme-wide)."""

PARADIGM_NOW = re.compile(r"^para_(?P<item>[a-z][a-z0-9_]*)_now$")
PARADIGM_BEFORE = re.compile(r"^para_(?P<item>[a-z][a-z0-9_]*)_before$")
OUTCOME_PRE = re.compile(r"^pre_(?P<outcome>[a-z][a-z0-9_]*)$")
OUTCOME_POST = re.compile(r"^post_(?P<outcome>[a-z][a-z0-9_]*)$")
SITE_ID_PATTERN: Final[str] = r"^[a-z0-9][a-z0-9_-]{1,39}$"
"""A site code is a slug: lower-case letters, digits, hyphens and underscores."""
AGE_BAND = re.compile(r"^(?P<low>\d{1,3})(?:-(?P<high>\d{1,3})|(?P<open>\+))$")
"""An age band as programmes write them: ``N-M`` (both ages included) or ``N+``."""

SWEMWBS_ITEMS: Final[tuple[str, ...]] = tuple(f"swemwbs_{i}" for i in range(1, 8))
UCLA_ITEMS: Final[tuple[str, ...]] = tuple(f"ucla_{i}" for i in range(1, 4))
EMPOWERS_BEHAVIOURS: Final[tuple[str, ...]] = (
    "empathises",
    "mobilises",
    "powers",
    "orbits",
    "waves",
    "experiments",
    "rages",
    "selfgoverns",
)
EMPOWERS_ITEMS: Final[tuple[str, ...]] = tuple(f"emp_{b}" for b in EMPOWERS_BEHAVIOURS)


@dataclass(frozen=True)
class AnswerScale:
    """A closed set of answers, stored as numbers, typed as numbers or labels."""

    name: str
    description: str
    values: tuple[int, ...]
    labels: tuple[str, ...] | None

    def label_to_value(self) -> dict[str, int]:
        """Labels folded to lower case with single spaces, so 'often ' matches 'Often'."""
        if self.labels is None:
            return {}
        return {
            fold_label(label): value for label, value in zip(self.labels, self.values, strict=True)
        }

    def describe(self) -> str:
        """The answers in words, for error messages and template instructions."""
        if self.labels is None:
            return f"a whole number from {self.values[0]} to {self.values[-1]}"
        pairs = ", ".join(f"{v} = {lab}" for v, lab in zip(self.values, self.labels, strict=True))
        return f"{self.values[0]}-{self.values[-1]} or the words ({pairs})"


def age_band_limits(band: str) -> tuple[int, float] | None:
    """(youngest, oldest) age a band covers (``75+`` -> (75, inf)); None if it is not a band."""
    match = AGE_BAND.match(str(band).strip())
    if match is None:
        return None
    low = int(match["low"])
    high = float("inf") if match["open"] else int(match["high"])
    return (low, high) if low <= high else None


def overlapping_age_bands(bands: set[str] | frozenset[str]) -> list[tuple[str, str]]:
    """Pairs of distinct bands that share an age (``16-24`` and ``20-29``), sorted."""
    limits = {b: age_band_limits(b) for b in bands}
    known = sorted((lim, b) for b, lim in limits.items() if lim is not None)
    pairs = []
    for i, ((low_a, high_a), a) in enumerate(known):
        for (low_b, high_b), b in known[i + 1 :]:
            if low_b <= high_a and low_a <= high_b:
                pairs.append((a, b))
    return pairs


def fold_label(text: str) -> str:
    return " ".join(str(text).split()).casefold()


@cache
def answer_scales(schemas_dir: Path = SCHEMAS_DIR) -> Mapping[str, AnswerScale]:
    raw = yaml.safe_load((schemas_dir / "answer_scales.yaml").read_text(encoding="utf-8"))
    return {
        name: AnswerScale(
            name=name,
            description=spec["description"],
            values=tuple(int(v) for v in spec["values"]),
            labels=None if spec.get("labels") is None else tuple(spec["labels"]),
        )
        for name, spec in raw.items()
    }


# --- custom checks named in the YAML --------------------------------------------------------
# Registered once at import; pandera serialises them by name and statistics.


def _register_checks() -> None:
    if hasattr(pa.Check, "answer_scale"):  # already registered (module reloaded)
        return

    @extensions.register_check_method(statistics=["scale"], supported_types=pd.Series)
    def answer_scale(series: pd.Series, *, scale: str) -> pd.Series:
        """Every answer is one of the scale's numbers (labels are mapped before validation)."""
        allowed = set(answer_scale_named(scale).values)
        numeric = pd.to_numeric(series, errors="coerce")
        return series.isna() | numeric.isin(allowed)

    @extensions.register_check_method(statistics=[], supported_types=pd.Series)
    def age_band(series: pd.Series) -> pd.Series:
        """Written ``N-M`` (N no older than M) or ``N+``: any set of bands a programme uses."""
        text = series.astype("string").str.strip()
        parts = text.str.extract(AGE_BAND.pattern)
        low = pd.to_numeric(parts["low"], errors="coerce")
        high = pd.to_numeric(parts["high"], errors="coerce")
        well_formed = parts["low"].notna() & (parts["open"].notna() | (low <= high))
        return series.isna() | well_formed.fillna(False).astype(bool)

    @extensions.register_check_method(statistics=["allowed"], supported_types=pd.Series)
    def semicolon_list(series: pd.Series, *, allowed: list[str]) -> pd.Series:
        """A semicolon-separated list whose every entry is one of ``allowed``."""
        given = series.dropna().astype(str)
        bad = semicolon_list_bad(given, allowed)
        bad_rows = given.index[bad]
        return pd.Series(~series.index.isin(bad_rows), index=series.index)

    @extensions.register_check_method(statistics=[], supported_types=pd.DataFrame)
    def before_only_after_baseline(df: pd.DataFrame) -> pd.Series:
        """Retrospective 'then' ratings only make sense on follow-up waves."""
        before = [c for c in df.columns if PARADIGM_BEFORE.match(str(c))]
        if not before or "wave" not in df:
            return pd.Series(True, index=df.index)
        baseline = pd.to_numeric(df["wave"], errors="coerce") == 0
        return ~(baseline & df[before].notna().any(axis=1))

    @extensions.register_check_method(statistics=[], supported_types=pd.DataFrame)
    def gas_thresholds_ordered(df: pd.DataFrame) -> pd.Series:
        """GAS levels -2 < -1 < 0 (the target) < +1 < +2.

        Target and thresholds are all changes counted in the intended direction
        (a fall of 0.3 visits for a 'decrease' outcome is written 0.3), so the
        order is the same whichever way the outcome is meant to move.
        """
        levels = [c for c in ("gas_m2", "gas_m1", "target", "gas_p1", "gas_p2") if c in df]
        values = df[levels].apply(pd.to_numeric, errors="coerce")
        ordered = pd.Series(True, index=df.index)
        for i, lower in enumerate(levels):
            for upper in levels[i + 1 :]:
                both = values[lower].notna() & values[upper].notna()
                ordered &= ~both | (values[lower] < values[upper])
        return ordered

    @extensions.register_check_method(statistics=[], supported_types=pd.DataFrame)
    def proxy_value_only_for_calculate(df: pd.DataFrame) -> pd.Series:
        """Only countable (calculate) value carries a financial proxy."""
        if "proxy_value_gbp" not in df or "value_kind" not in df:
            return pd.Series(True, index=df.index)
        return df["proxy_value_gbp"].isna() | (df["value_kind"] == "calculate")


def semicolon_list_bad(given: pd.Series, allowed: list[str]) -> np.ndarray:
    """For each text, whether it fails the semicolon-list rule: an entry (split on ';',
    trimmed) not in ``allowed``, or no entry at all.

    Vectorised in Arrow for texts of printable ASCII (where Arrow's trimming of spaces
    and Python's ``str.strip`` agree); any other text is judged one by one in Python.
    """
    bad = np.zeros(len(given), dtype=bool)
    if not len(given):
        return bad
    text = pa_arrow.array(given.array)
    if isinstance(text, pa_arrow.ChunkedArray):
        text = text.combine_chunks()
    printable = pc.fill_null(pc.match_substring_regex(text, r"^[\x20-\x7e]*$"), False)
    parts = pc.split_pattern(text, ";")
    parent = pc.list_parent_indices(parts).to_numpy()
    entries = pc.utf8_trim(pc.list_flatten(parts), " ")
    filled = pc.not_equal(entries, "").to_numpy(zero_copy_only=False)
    unknown = filled & ~pc.is_in(entries, pa_arrow.array(list(allowed), pa_arrow.string()))\
        .to_numpy(zero_copy_only=False)  # fmt: skip
    bad[np.unique(parent[unknown])] = True
    bad |= np.bincount(parent[filled], minlength=len(given)) == 0
    odd = np.flatnonzero(~printable.to_numpy(zero_copy_only=False))
    allowed_set = set(allowed)
    for i in odd:
        kept = [e for e in (p.strip() for p in str(given.iloc[i]).split(";")) if e != ""]
        bad[i] = not kept or any(e not in allowed_set for e in kept)
    return bad


_register_checks()


@cache
def base_schema(table: TableName, schemas_dir: Path = SCHEMAS_DIR) -> pa.DataFrameSchema:
    """The shipped schema of one table, as its YAML file says (no instrument items yet)."""
    if table not in TABLES:
        raise KeyError(
            f"{table!r} is not a table of the data contract; tables are {', '.join(TABLES)}"
        )
    return pa.DataFrameSchema.from_yaml(schemas_dir / f"{table}.yaml")


def table_schema(table: TableName, schemas_dir: Path = SCHEMAS_DIR) -> pa.DataFrameSchema:
    """The pandera schema for one contract table under the default programme (the Health
    as a Social Movement sample); a workspace's own is ``programme_contract(...).schema``."""
    if schemas_dir != SCHEMAS_DIR:
        return base_schema(table, schemas_dir)
    return default_contract().schema(table)


def all_schemas() -> dict[TableName, pa.DataFrameSchema]:
    return {t: table_schema(t) for t in TABLES}


def contract_version() -> str:
    """The version stamped on every ingest under the default programme (see
    :attr:`Contract.version`)."""
    return default_contract().version


# --- instruments: the registry (schemas/instruments.yaml) ------------------------------------

Scoring = Literal["sum", "mean", "conversion", "each_item"]
SCORINGS: Final[tuple[str, ...]] = ("sum", "mean", "conversion", "each_item")
_PROGRAMME_SCALES: dict[str, AnswerScale] = {}
"""Answer scales declared by programmes' own instruments, by their (content-named) scale."""


def answer_scale_named(name: str) -> AnswerScale:
    """A shipped answer scale, or one a programme's own instrument declared."""
    return _PROGRAMME_SCALES.get(name) or answer_scales()[name]


@dataclass(frozen=True)
class Instrument:
    """One survey instrument: its items, answers and published scoring rules."""

    key: str
    name: str
    display_name: str
    plain_name: str
    columns: str
    item_title: str
    item_text: str
    scale: AnswerScale
    items: tuple[tuple[str, str], ...]
    """(key, text) of every item, in order."""
    reverse_items: frozenset[str]
    scoring: Scoring
    conversion: Mapping[int, float] | None
    minimum_items: int
    range: tuple[float, float]
    better: Literal["higher", "lower"]
    better_items: Mapping[str, str]
    reliable_change: float | None
    citation: str
    answer_words: str = ""
    """The answers in words for template instructions (default: from the answer scale)."""
    item_labels: Mapping[str, str] = field(default_factory=dict)
    """A few words per item for readers (default: the item's key if a word, else its text)."""
    plain_items: Mapping[str, str] = field(default_factory=dict)
    """Each item in a participant's words (each_item instruments; default: its label)."""
    range_words: str = ""
    """How the score is read, in a participant's words (default: from range and better)."""
    internal_consistency: bool = True
    """Whether the items are meant to measure one thing, so that Cronbach's alpha means
    something (ONS4's four questions are separate measures, one running the other way)."""

    def column(self, item: str) -> str:
        return self.columns.format(n=item)

    @property
    def item_columns(self) -> tuple[str, ...]:
        return tuple(self.column(k) for k, _ in self.items)

    @property
    def measures(self) -> tuple[str, ...]:
        """What the models estimate: the score, or each item for ``each_item`` instruments."""
        return self.item_columns if self.scoring == "each_item" else (self.key,)

    def item_of(self, measure: str) -> str | None:
        """The item whose column ``measure`` is (None for the score)."""
        return next((item for item, _ in self.items if self.column(item) == measure), None)

    def better_for(self, measure: str) -> str:
        item = self.item_of(measure)
        return self.better if item is None else self.better_items.get(item, self.better)

    def measure_name(self, measure: str) -> str:
        """How a reader sees one of this instrument's measures."""
        if measure == self.key:
            return self.display_name
        key, text = next(((k, v) for k, v in self.items if self.column(k) == measure),
                         (measure, measure))  # fmt: skip
        label = self.item_labels.get(key) or (text if key.isdigit() else key)
        return f"{self.display_name}: {label}"


@cache
def instrument_registry(schemas_dir: Path = SCHEMAS_DIR) -> Mapping[str, Instrument]:
    """Every instrument the registry ships, by key."""
    raw = yaml.safe_load((schemas_dir / "instruments.yaml").read_text(encoding="utf-8"))
    return {key: instrument_from_spec(key, spec) for key, spec in raw.items()}


def instrument_from_spec(key: str, spec: Mapping[str, Any]) -> Instrument:
    """An instrument from its registry entry (or a programme's own battery); ValueError
    saying what is wrong and what is allowed."""
    if not re.fullmatch(r"[a-z][a-z0-9]{1,19}", key):
        raise ValueError("an instrument's name is 2-20 lower-case letters and digits")
    for required in ("name", "items", "answers", "scoring", "range", "better", "citation"):
        if spec.get(required) in (None, "", [], {}):
            raise ValueError(f"'{required}' is missing; every instrument gives it")
    items = spec["items"]
    if not isinstance(items, Mapping) or not items:
        raise ValueError("'items' should map each item's number (or word) to its text")
    item_keys = [str(k) for k in items]
    if not all(re.fullmatch(r"[a-z0-9]+", k) for k in item_keys):
        raise ValueError("item keys are numbers or lower-case words (1, 2, ... or mobilises)")
    answers = spec["answers"]
    if isinstance(answers, str):
        if answers not in answer_scales():
            raise ValueError(f"'answers' names no answer scale; allowed: {', '.join(answer_scales())}"
                             " or {values: [...], labels: [...]}")  # fmt: skip
        scale = answer_scales()[answers]
    elif isinstance(answers, Mapping) and answers.get("values"):
        values = tuple(int(v) for v in answers["values"])
        labels = answers.get("labels")
        if labels is not None and len(labels) != len(values):
            raise ValueError("'answers' needs one label per value")
        content = hashlib.sha256(repr((values, labels)).encode()).hexdigest()[:8]
        scale = AnswerScale(f"{key}@{content}", f"{spec['name']} item", values,
                            None if labels is None else tuple(str(v) for v in labels))  # fmt: skip
        _PROGRAMME_SCALES[scale.name] = scale
    else:
        raise ValueError("'answers' is an answer scale's name or {values: [...], labels: [...]}")
    scoring = str(spec["scoring"])
    if scoring not in SCORINGS:
        raise ValueError(f"'scoring' is {scoring!r}; allowed: {', '.join(SCORINGS)}")
    conversion = None
    if scoring == "conversion":
        table = spec.get("conversion")
        if not isinstance(table, Mapping) or not table:
            raise ValueError("scoring: conversion needs a 'conversion' table of raw sum: score")
        conversion = {int(k): float(v) for k, v in table.items()}
        low, high = len(items) * min(scale.values), len(items) * max(scale.values)
        if sorted(conversion) != list(range(low, high + 1)):
            raise ValueError(f"the conversion table must give every raw sum from {low} to {high}")
    reverse = frozenset(str(k) for k in spec.get("reverse_items") or [])
    if not reverse <= set(item_keys):
        raise ValueError(
            f"'reverse_items' names items that are not in 'items' ({', '.join(item_keys)})"
        )
    for per_item in ("item_labels", "plain_items", "better_items"):
        if not {str(k) for k in (spec.get(per_item) or {})} <= set(item_keys):
            raise ValueError(
                f"'{per_item}' names items that are not in 'items' ({', '.join(item_keys)})"
            )
    minimum = int(spec.get("minimum_items") or len(items))
    if not 1 <= minimum <= len(items):
        raise ValueError(f"'minimum_items' should be from 1 to {len(items)}")
    if scoring == "conversion" and minimum != len(items):
        raise ValueError("a conversion table is defined for whole raw sums: minimum_items must "
                         "be every item")  # fmt: skip
    better = str(spec["better"])
    better_items = {str(k): str(v) for k, v in (spec.get("better_items") or {}).items()}
    if any(b not in ("higher", "lower") for b in [better, *better_items.values()]):
        raise ValueError("'better' is higher or lower")
    low_high = spec["range"]
    if not isinstance(low_high, list | tuple) or len(low_high) != 2:
        raise ValueError("'range' is [lowest, highest] score")
    change = spec.get("reliable_change")
    return Instrument(
        key=key, name=str(spec["name"]), display_name=str(spec.get("display_name") or spec["name"]),
        plain_name=str(spec.get("plain_name") or spec["name"]).strip(),
        columns=str(spec.get("columns") or f"{key}_{{n}}"),
        item_title=str(spec.get("item_title") or f"{key.upper()} item {{n}}"),
        item_text=str(spec.get("item_text") or "{text}"), scale=scale,
        items=tuple((str(k), str(v)) for k, v in items.items()), reverse_items=reverse,
        scoring=scoring, conversion=conversion, minimum_items=minimum,  # type: ignore[arg-type]
        range=(float(low_high[0]), float(low_high[1])), better=better,  # type: ignore[arg-type]
        better_items=better_items, reliable_change=None if change is None else float(change),
        citation=" ".join(str(spec["citation"]).split()),
        answer_words=str(spec.get("answer_words") or ""),
        item_labels={str(k): str(v) for k, v in (spec.get("item_labels") or {}).items()},
        plain_items={str(k): " ".join(str(v).split())
                     for k, v in (spec.get("plain_items") or {}).items()},
        range_words=" ".join(str(spec.get("range_words") or "").split()),
        internal_consistency=bool(spec.get("internal_consistency", True)),
    )  # fmt: skip


def _item_column(instrument: Instrument, item: str, text: str) -> pa.Column:
    scale = instrument.scale
    if instrument.answer_words:
        words = instrument.answer_words
    elif scale.labels and len(scale.values) <= 3:
        words = ", ".join(f"{v} = {lab}" for v, lab in zip(scale.values, scale.labels, strict=True))
    elif scale.labels:
        words = (f"{scale.values[0]} = {scale.labels[0]} ... {scale.values[-1]} = "
                 f"{scale.labels[-1]}; the words are fine too")  # fmt: skip
    else:
        words = f"{scale.values[0]} to {scale.values[-1]}"
    return pa.Column(
        "Int64", nullable=True, checks=[pa.Check.answer_scale(scale=scale.name)],
        name=instrument.column(item), title=instrument.item_title.format(n=item),
        description=f"{instrument.item_text.format(text=text)} ({words})" + ("" if instrument.answer_words else "."),
    )  # fmt: skip


# --- the contract in force: shipped schemas refined by a programme ---------------------------


@dataclass(frozen=True, eq=False)
class Contract:
    """The shipped schemas refined by one programme: what a workspace accepts."""

    programme: Programme
    instruments: tuple[Instrument, ...]
    schemas: Mapping[str, pa.DataFrameSchema]
    version: str
    """Changes whenever a schema file, the registry or the programme file does."""

    @property
    def title(self) -> str:
        return self.programme.title

    def schema(self, table: TableName) -> pa.DataFrameSchema:
        if table not in self.schemas:
            raise KeyError(
                f"{table!r} is not a table of the data contract; tables are {', '.join(TABLES)}"
            )
        return self.schemas[table]

    def column_for(self, table: TableName, column_name: str) -> pa.Column | None:
        return column_in(self.schema(table), column_name)

    @property
    def survey_measures(self) -> tuple[str, ...]:
        """Every measure the survey gives: instruments' scores or items, the paradigm index."""
        return (*[m for i in self.instruments for m in i.measures], "paradigm_index")

    def instrument_of(self, measure: str) -> Instrument | None:
        return next((i for i in self.instruments if measure in i.measures), None)


_CONTRACTS: dict[str, Contract] = {}


def programme_contract(programme: Programme | None = None) -> Contract:
    """The contract in force for ``programme`` (default: the sample programme)."""
    programme = programme or parse_programme(DEFAULT_PROGRAMME_YAML)
    cached = _CONTRACTS.get(programme.source)
    if cached is not None:
        return cached
    registry = instrument_registry()
    instruments = tuple(
        instrument_from_spec(name, programme.own_instruments[name])
        if name in programme.own_instruments else registry[name]
        for name in programme.instruments
    )  # fmt: skip
    schemas = {table: _refined(base_schema(table), programme, instruments) for table in TABLES}
    version = hashlib.sha256(
        (schemas_fingerprint(SCHEMAS_DIR) + programme.fingerprint).encode()
    ).hexdigest()[:12]
    contract = Contract(programme, instruments, schemas, version)
    _CONTRACTS[programme.source] = contract
    return contract


@cache
def default_contract() -> Contract:
    """The sample programme's contract, parsed once per process (ingest asks per column)."""
    return programme_contract(None)


def _refined(
    schema: pa.DataFrameSchema, programme: Programme, instruments: tuple[Instrument, ...]
) -> pa.DataFrameSchema:
    """A table's shipped schema with the programme's categories and instrument items."""
    columns: dict[str, pa.Column] = {}
    for name, column in schema.columns.items():
        if schema.name == "survey_responses" and column.regex and not columns.get("_items_done"):
            for instrument in instruments:
                for item, text in instrument.items:
                    columns[instrument.column(item)] = _item_column(instrument, item, text)
            columns["_items_done"] = column  # marker, removed below
        allowed = programme.categories.get(name)
        if allowed is not None and not column.regex:
            column = copy.deepcopy(column)
            column.checks = [c for c in column.checks if c.name not in ("isin", "age_band")] + [
                pa.Check.isin(list(allowed))
            ]
        if name == "wave" and programme.waves:  # the templates say the waves' names
            column = copy.deepcopy(column)
            named = ", ".join(f"{w} = {n}" for w, n in sorted(programme.waves.items()))
            column.description = f"{column.description} This programme's waves: {named}."
        columns[name] = column
    columns.pop("_items_done", None)
    refined = copy.deepcopy(schema)
    refined.columns = columns
    return refined


def schemas_fingerprint(schemas_dir: Path) -> str:
    """Short content hash of every schema file: changes whenever the contract does."""
    digest = hashlib.sha256()
    for path in sorted(schemas_dir.glob("*.yaml")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def table_keys(table: TableName) -> list[str]:
    """Columns that identify a row: a later upload with the same key supersedes it."""
    schema = table_schema(table)
    single = [name for name, col in schema.columns.items() if col.unique]
    return single or list(schema.unique or [])


def column_checks(column: pa.Column) -> dict[str, Mapping[str, Any]]:
    """A column's checks by name, with their statistics."""
    return {check.name: dict(check.statistics or {}) for check in column.checks}


def column_answer_scale(column: pa.Column) -> AnswerScale | None:
    stats = column_checks(column).get("answer_scale")
    return None if stats is None else answer_scale_named(stats["scale"])


def column_allowed_values(column: pa.Column) -> list[Any] | None:
    """The closed list of values a categorical column takes, if it has one."""
    checks = column_checks(column)
    if "isin" in checks:
        return list(checks["isin"]["allowed_values"])
    if "semicolon_list" in checks:
        return list(checks["semicolon_list"]["allowed"])
    scale = column_answer_scale(column)
    return None if scale is None else list(scale.values)


def schema_column_for(
    table: TableName, column_name: str, contract: Contract | None = None
) -> pa.Column | None:
    """The schema column that governs ``column_name``, matching regex columns too."""
    return column_in((contract or default_contract()).schema(table), column_name)


def column_in(schema: pa.DataFrameSchema, column_name: str) -> pa.Column | None:
    """The column of ``schema`` that governs ``column_name``, matching regex columns too."""
    if column_name in schema.columns and not schema.columns[column_name].regex:
        return schema.columns[column_name]
    for pattern, column in schema.columns.items():
        if column.regex and re.fullmatch(pattern.strip("^$"), column_name):
            return column
    return None


def describe_contract(contract: Contract) -> str:
    """The contract in force, in words: what ``reval programme show`` prints."""
    programme = contract.programme
    lines = [
        f"Programme: {programme.title}",
        f"Programme file: {programme.path or '(none: the default programme)'}",
        f"Contract version: {contract.version}",
    ]
    if programme.waves:
        lines.append(
            "Waves: " + "; ".join(f"{w} = {n}" for w, n in sorted(programme.waves.items()))
        )
    lines += ["", "Instruments:"]
    for i in contract.instruments:
        change = "" if i.reliable_change is None else f", reliable change {i.reliable_change:g}"
        lines += [
            f"  {i.key}: {i.name} - {len(i.items)} items {i.item_columns[0]} ... "
            f"{i.item_columns[-1]}, answers {i.scale.describe()}",
            f"    scoring {i.scoring} (at least {i.minimum_items} items), range "
            f"{i.range[0]:g}-{i.range[1]:g}, {i.better} is better{change}",
            f"    source: {i.citation}",
        ]
    for table in TABLES:
        schema = contract.schema(table)
        lines += ["", f"{table}: {schema.title or table}"]
        for name, column in schema.columns.items():
            allowed = column_allowed_values(column)
            checks = column_checks(column)
            rule = (f"one of: {', '.join(map(str, allowed))}" if allowed is not None
                    else "age bands written N-M or N+, not overlapping" if "age_band" in checks
                    else "")  # fmt: skip
            need = "required" if column.required and not column.nullable else "optional"
            kind = _DTYPE_WORDS.get(str(column.dtype).split("[")[0], str(column.dtype))
            lines.append(f"  {name} ({kind}, {need}){': ' + rule if rule else ''}")
    return "\n".join(lines)


_DTYPE_WORDS: Final[dict[str, str]] = {
    "string": "text", "str": "text", "Int64": "whole number", "int64": "whole number",
    "float64": "number", "datetime64": "date",
}  # fmt: skip
