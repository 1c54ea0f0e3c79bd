"""The data contract: the tables sites upload, as pandera schemas stored in YAML.

``schemas/*.yaml`` is the source of truth. This module loads it, registers the
custom checks the YAML names (so the schemas round-trip through pandera's
``to_yaml``/``from_yaml``), and answers questions about the contract that
readers, templates and the warehouse need: which tables exist, their keys,
which answer scale a column uses and which values a column allows.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
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
        allowed = set(answer_scales()[scale].values)
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
def table_schema(table: TableName, schemas_dir: Path = SCHEMAS_DIR) -> pa.DataFrameSchema:
    """The pandera schema for one contract table, loaded from its YAML file."""
    if table not in TABLES:
        raise KeyError(
            f"{table!r} is not a table of the data contract; tables are {', '.join(TABLES)}"
        )
    return pa.DataFrameSchema.from_yaml(schemas_dir / f"{table}.yaml")


def all_schemas() -> dict[TableName, pa.DataFrameSchema]:
    return {t: table_schema(t) for t in TABLES}


@cache
def contract_version() -> str:
    """The version stamped on every ingest: a hash of the schema files in use."""
    return schemas_fingerprint(SCHEMAS_DIR)


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
    return None if stats is None else answer_scales()[stats["scale"]]


def column_allowed_values(column: pa.Column) -> list[Any] | None:
    """The closed list of values a categorical column takes, if it has one."""
    checks = column_checks(column)
    if "isin" in checks:
        return list(checks["isin"]["allowed_values"])
    if "semicolon_list" in checks:
        return list(checks["semicolon_list"]["allowed"])
    scale = column_answer_scale(column)
    return None if scale is None else list(scale.values)


def schema_column_for(table: TableName, column_name: str) -> pa.Column | None:
    """The schema column that governs ``column_name``, matching regex columns too."""
    schema = table_schema(table)
    if column_name in schema.columns and not schema.columns[column_name].regex:
        return schema.columns[column_name]
    for pattern, column in schema.columns.items():
        if column.regex and re.fullmatch(pattern.strip("^$"), column_name):
            return column
    return None
