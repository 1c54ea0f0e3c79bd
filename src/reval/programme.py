"""The programme file: what differs between programmes, as configuration.

``$REVAL_HOME/programme.yaml`` (written by ``reval init``) names the programme's title,
the categories its columns allow, the survey instruments it uses and its waves. The
shipped schemas (``schemas/``) are the default contract; the programme refines them
(see :func:`reval.contract.programme_contract`). A workspace without the file evaluates
the Health as a Social Movement programme that ``sample_data/`` holds.

A wrong file is an error that names the key, the line and what is allowed, so an
evaluation team can fix it without reading code.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from reval.errors import RevalError

PROGRAMME_FILE: Final[str] = "programme.yaml"
DEFAULT_TITLE: Final[str] = "Health as a Social Movement"
DEFAULT_INSTRUMENTS: Final[tuple[str, ...]] = ("swemwbs", "ucla3", "empowers")
CATEGORY_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "role": ("survey_responses",),
    "age_band": ("survey_responses",),
    "sex": ("survey_responses", "comparison_records"),
    "proposed_by": ("intended_outcomes",),
}
"""Columns whose categories a programme may set, and the tables that have them. Other
closed lists (direction, value_kind, paradigm ...) carry meaning the models rely on."""
KEYS: Final[tuple[str, ...]] = ("title", "instruments", "categories", "waves", "own_instruments")

DEFAULT_PROGRAMME_YAML: Final[str] = """\
# The programme reval evaluates in this workspace.
#
# Everything that differs between programmes is set here; the shipped contract
# (the schemas in reval's schemas/ folder) fills in the rest. Check this file with
#     reval programme check
# and see the contract in force (every table, column and allowed value) with
#     reval programme show
# After a change, make fresh templates for sites with `reval templates DIR`.

# The title every report, the portal and the templates carry.
title: Health as a Social Movement

# The survey instruments the programme uses, from reval's instrument registry
# (schemas/instruments.yaml): swemwbs, wemwbs, ucla3, ons4, empowers.
# Their items become survey columns <instrument>_<n> (swemwbs_1 ... swemwbs_7).
instruments: [swemwbs, ucla3, empowers]

# The categories a column allows, replacing the shipped lists. Columns that can be set:
# role, age_band, sex, proposed_by. Without an entry, age_band takes any bands written
# N-M or N+ (16-24, 75+) as long as they do not overlap.
categories: {}
#   age_band: [16-24, 25-34, 35-44, 45-54, 55-64, 65-74, 75+]
#   role: [resident, volunteer, patient, carer, staff]

# Names of the survey waves, as reports should say them (wave 0 is the baseline).
# Without names, reports say "baseline" and "wave 1", "wave 2" ... Example:
# waves:
#   0: baseline
#   1: six months
#   2: one year
waves: {}

# A programme's own Likert battery, used like a registry instrument (list it under
# instruments too). Example:
# own_instruments:
#   confidence:
#     name: Confidence in managing my health
#     display_name: Confidence (4-20)
#     plain_name: confidence
#     answers: {values: [1, 2, 3, 4, 5], labels: [Not at all, A little, Somewhat, Quite, Very]}
#     items: {1: I can look after my health, 2: I know where to get help,
#             3: I can talk to my GP about what matters to me, 4: I can help others}
#     reverse_items: []
#     scoring: sum
#     minimum_items: 4
#     range: [4, 20]
#     better: higher
#     citation: Written by the programme team, 2024.
own_instruments: {}
"""


class ProgrammeError(RevalError):
    """The programme file is wrong; the message names the key, the line and what is allowed."""


@dataclass(frozen=True)
class Programme:
    """What one programme declares (see :data:`DEFAULT_PROGRAMME_YAML`)."""

    title: str = DEFAULT_TITLE
    instruments: tuple[str, ...] = DEFAULT_INSTRUMENTS
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    waves: Mapping[int, str] = field(default_factory=dict)
    own_instruments: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source: str = DEFAULT_PROGRAMME_YAML
    """The file's text (the default file's when there is none)."""
    path: Path | None = None

    @property
    def fingerprint(self) -> str:
        """Changes whenever the programme file does (part of the schema version)."""
        return hashlib.sha256(self.source.encode()).hexdigest()[:12]

    def wave_name(self, wave: int) -> str:
        """How reports say a wave: its name, else "wave N" (0 is the baseline)."""
        if wave in self.waves:
            return self.waves[wave]
        return "baseline" if wave == 0 else f"wave {wave}"


def programme_path(home: Path) -> Path:
    return home / PROGRAMME_FILE


def load_programme(home: Path) -> Programme:
    """The workspace's programme; the default programme when the file does not exist."""
    path = programme_path(home)
    if not path.is_file():
        return parse_programme(DEFAULT_PROGRAMME_YAML)
    return parse_programme(path.read_text(encoding="utf-8"), path)


def write_default_programme(home: Path) -> Path:
    """Write the commented default programme file, unless the workspace has one."""
    path = programme_path(home)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(DEFAULT_PROGRAMME_YAML, encoding="utf-8")
    return path


def parse_programme(text: str, path: Path | None = None) -> Programme:
    """A programme from the file's text, or a :class:`ProgrammeError` naming key and line."""
    where = str(path) if path is not None else PROGRAMME_FILE
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        raise ProgrammeError(
            f"{where}{line}: this is not valid YAML ({getattr(error, 'problem', error)}). "
            "Compare it with the file `reval init` writes."
        ) from error
    if root is None:
        root = yaml.MappingNode("tag:yaml.org,2002:map", [])
    top = _mapping(root, where, "the file", KEYS)
    title = _title(top.get("title"), where)
    own = _own_instruments(top.get("own_instruments"), where)
    instruments = _instruments(top.get("instruments"), where, own)
    categories = _categories(top.get("categories"), where)
    waves = _waves(top.get("waves"), where)
    return Programme(title=title, instruments=instruments, categories=categories, waves=waves,
                     own_instruments=own, source=text, path=path)  # fmt: skip


# --- one key at a time --------------------------------------------------------------------

Entry = tuple[yaml.Node, yaml.Node]


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _fail(where: str, node: yaml.Node, key: str, problem: str) -> ProgrammeError:
    return ProgrammeError(f"{where}, line {_line(node)}: {key}: {problem}")


def _mapping(
    node: yaml.Node, where: str, key: str, allowed: tuple[str, ...] | None
) -> dict[str, Entry]:
    if not isinstance(node, yaml.MappingNode):
        raise _fail(where, node, key, "should be a set of `name: value` lines")
    entries: dict[str, Entry] = {}
    for k, v in node.value:
        name = str(k.value)
        if allowed is not None and name not in allowed:
            raise _fail(
                where, k, name, f"is not a key reval knows here; allowed: {', '.join(allowed)}"
            )
        if name in entries:
            raise _fail(where, k, name, "appears twice; keep one")
        entries[name] = (k, v)
    return entries


def _scalar(entry: Entry, where: str, key: str) -> str:
    _, node = entry
    if not isinstance(node, yaml.ScalarNode) or node.value == "":
        raise _fail(where, node, key, "should be one value (a word, a number or a sentence)")
    return str(node.value)


def _list(entry: Entry, where: str, key: str) -> list[tuple[yaml.Node, str]]:
    _, node = entry
    if not isinstance(node, yaml.SequenceNode):
        raise _fail(where, node, key, "should be a list, for example [a, b, c]")
    out = []
    for item in node.value:
        if not isinstance(item, yaml.ScalarNode) or str(item.value).strip() == "":
            raise _fail(where, item, key, "every entry of the list should be one value")
        out.append((item, str(item.value).strip()))
    return out


def _title(entry: Entry | None, where: str) -> str:
    if entry is None:
        return DEFAULT_TITLE
    title = " ".join(_scalar(entry, where, "title").split())
    if not 3 <= len(title) <= 120:
        raise _fail(where, entry[1], "title", "should be 3 to 120 characters")
    return title


def _instruments(
    entry: Entry | None, where: str, own: Mapping[str, Mapping[str, Any]]
) -> tuple[str, ...]:
    from reval.contract import instrument_registry  # the registry lives with the schemas

    if entry is None:
        return DEFAULT_INSTRUMENTS
    known = sorted({*instrument_registry(), *own})
    names = []
    for node, name in _list(entry, where, "instruments"):
        if name not in known:
            raise _fail(where, node, "instruments", f"'{name}' is not an instrument reval knows; "
                        f"allowed: {', '.join(known)} (or declare it under own_instruments)")  # fmt: skip
        if name in names:
            raise _fail(where, node, "instruments", f"'{name}' is listed twice")
        names.append(name)
    return tuple(names)


def _categories(entry: Entry | None, where: str) -> dict[str, tuple[str, ...]]:
    from reval.contract import age_band_limits, overlapping_age_bands

    if entry is None or (
        isinstance(entry[1], yaml.ScalarNode) and entry[1].value in ("", "null", "~")
    ):
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for column, value in _mapping(entry[1], where, "categories", tuple(CATEGORY_COLUMNS)).items():
        key = f"categories: {column}"
        values = _list(value, where, key)
        if not values:
            raise _fail(
                where, value[1], key, "lists no categories; list at least one, or remove the key"
            )
        seen: set[str] = set()
        for node, text in values:
            if text in seen:
                raise _fail(where, node, key, f"'{text}' is listed twice")
            seen.add(text)
            if column == "age_band" and age_band_limits(text) is None:
                raise _fail(where, node, key, f"'{text}' is not an age band; write N-M with the "
                            "youngest age first (for example 25-44) or N+ (for example 75+)")  # fmt: skip
        if column == "age_band" and (pairs := overlapping_age_bands(seen)):
            a, b = pairs[0]
            raise _fail(where, value[1], key, f"the bands {a} and {b} overlap; a programme's "
                        "bands must not share an age")  # fmt: skip
        out[column] = tuple(text for _, text in values)
    return out


def _waves(entry: Entry | None, where: str) -> dict[int, str]:
    if entry is None:
        return {}
    out: dict[int, str] = {}
    for name, (key_node, value_node) in _mapping(entry[1], where, "waves", None).items():
        if not name.isdigit() or int(name) > 20:
            raise _fail(where, key_node, "waves", f"'{name}' is not a wave number; waves are "
                        "numbered 0 (the baseline) to 20")  # fmt: skip
        out[int(name)] = " ".join(_scalar((key_node, value_node), where, f"waves: {name}").split())
    return out


OWN_INSTRUMENT_KEYS: Final[tuple[str, ...]] = (
    "name", "display_name", "plain_name", "columns", "item_title", "item_text", "answer_words", "item_labels",
    "plain_items", "range_words", "answers",
    "items", "reverse_items", "scoring", "conversion", "minimum_items", "range", "better",
    "better_items", "reliable_change", "citation", "internal_consistency",
)  # fmt: skip


def _own_instruments(entry: Entry | None, where: str) -> dict[str, Mapping[str, Any]]:
    """A programme's own batteries: checked fully by the registry (same rules as shipped)."""
    from reval.contract import instrument_from_spec

    if entry is None or (
        isinstance(entry[1], yaml.ScalarNode) and entry[1].value in ("", "null", "~")
    ):
        return {}
    out: dict[str, Mapping[str, Any]] = {}
    for name, (key_node, value_node) in _mapping(entry[1], where, "own_instruments", None).items():
        keys = _mapping(value_node, where, f"own_instruments: {name}", OWN_INSTRUMENT_KEYS)
        spec = yaml.safe_load(yaml.serialize(value_node))
        try:
            instrument_from_spec(name, spec)
        except ValueError as error:
            named = re.match(r"'(\w+)'", str(error))  # the line of the key the error names
            node = keys[named[1]][0] if named and named[1] in keys else key_node
            raise _fail(where, node, f"own_instruments: {name}", str(error)) from error
        out[name] = spec
    return out
