"""The data contract: eight schemas stored as YAML, round-tripping, enforcing rules."""

from __future__ import annotations

import pandas as pd
import pandera.errors as pe
import pandera.pandas as pa
import pytest

from reval import contract
from reval.config import SCHEMAS_DIR

CONTRACT_TABLES = [
    "sites",
    "intended_outcomes",
    "survey_responses",
    "paradigm_statements",
    "comparison_records",
    "value_items",
    "harvested_outcomes",
    "events",
]


def test_every_contract_table_has_a_yaml_schema() -> None:
    assert sorted(contract.TABLES) == sorted(CONTRACT_TABLES)
    for table in CONTRACT_TABLES:
        assert (SCHEMAS_DIR / f"{table}.yaml").is_file()
        assert contract.table_schema(table).name == table


@pytest.mark.parametrize("table", CONTRACT_TABLES)
def test_schema_round_trips_through_yaml_with_custom_checks(table: str) -> None:
    schema = pa.DataFrameSchema.from_yaml(SCHEMAS_DIR / f"{table}.yaml")  # fresh, never run
    again = pa.DataFrameSchema.from_yaml(schema.to_yaml())
    assert again == schema
    assert again.to_yaml() == schema.to_yaml()
    # custom checks keep their names and statistics through the round trip
    assert [c.name for c in again.checks] == [c.name for c in schema.checks]


@pytest.mark.parametrize("table", CONTRACT_TABLES)
def test_sample_programme_validates_with_zero_failures(programme, table: str) -> None:
    validated = contract.table_schema(table).validate(programme.tables[table], lazy=True)
    assert len(validated) == len(programme.tables[table]) > 0


def _failures(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    with pytest.raises(pe.SchemaErrors) as caught:
        contract.table_schema(table).validate(frame, lazy=True)
    return caught.value.failure_cases


# (table, column, bad value, check expected to catch it): one realistic bad value per column type
BAD_VALUES = [
    ("sites", "site_id", "Wellbeing Erewash", "str_matches"),  # a name typed where the code goes
    ("sites", "start_date", "next spring", "coerce_dtype"),  # date column
    ("intended_outcomes", "direction", "up", "isin"),  # categorical
    ("intended_outcomes", "target", -2.0, "in_range"),  # float column
    ("intended_outcomes", "weight", 0.0, "in_range"),
    ("survey_responses", "swemwbs_3", 6, "answer_scale"),  # Likert item out of scale
    ("survey_responses", "ucla_1", 4, "answer_scale"),
    ("survey_responses", "emp_mobilises", 11, "answer_scale"),
    ("survey_responses", "wave", -1, "in_range"),  # integer column
    ("survey_responses", "role", "nurse", "isin"),
    ("survey_responses", "para_lived_experience_counts_now", 0, "answer_scale"),  # pattern column
    ("survey_responses", "story_aims", "knowledge; happiness", "semicolon_list"),
    ("survey_responses", "response_date", "31/02/2017", "coerce_dtype"),
    ("paradigm_statements", "paradigm", "newish", "isin"),
    ("comparison_records", "imd_decile", 11, "in_range"),
    ("comparison_records", "post_ae_visits", -1.0, "in_range"),  # pattern float column
    ("comparison_records", "group", "control", "isin"),
    ("value_items", "visibility", "hidden", "isin"),
    ("value_items", "proxy_value_gbp", -50.0, "in_range"),
    ("harvested_outcomes", "anticipated", "maybe", "isin"),
    ("harvested_outcomes", "description", None, "not_nullable"),
    ("events", "phase", "growth", "isin"),
]


@pytest.mark.parametrize(("table", "column", "value", "check"), BAD_VALUES)
def test_schema_rejects_realistic_bad_value(programme, table, column, value, check) -> None:
    frame = programme.tables[table].copy()
    frame[column] = frame[column].astype(object)
    frame.loc[0, column] = value
    failures = _failures(table, frame)
    caught = failures[
        (failures["column"] == column) & failures["check"].astype(str).str.startswith(check)
    ]
    assert len(caught) >= 1, failures
    assert set(caught["index"].dropna().astype(int)) <= {0}


def test_uniqueness_of_keys_is_in_the_schema(programme) -> None:
    frame = programme.tables["survey_responses"]
    doubled = pd.concat([frame.iloc[:1], frame.iloc[:1]], ignore_index=True)
    failures = _failures("survey_responses", doubled)
    assert {"field_uniqueness", "multiple_fields_uniqueness"} <= set(failures["check"].astype(str))


def test_before_ratings_only_after_baseline(programme) -> None:
    frame = programme.tables["survey_responses"].copy()
    baseline_row = frame.index[frame["wave"] == 0][0]
    frame.loc[baseline_row, "para_lived_experience_counts_before"] = 4
    failures = _failures("survey_responses", frame)
    rule = failures[failures["check"].astype(str).str.startswith("before_only_after_baseline")]
    assert set(rule["index"].astype(int)) == {baseline_row}


def test_follow_up_before_ratings_are_accepted(programme) -> None:
    frame = programme.tables["survey_responses"]
    follow_up = frame[frame["wave"] > 0]
    assert follow_up["para_lived_experience_counts_before"].notna().any()
    contract.table_schema("survey_responses").validate(follow_up, lazy=True)


def test_gas_thresholds_must_rise(programme) -> None:
    frame = programme.tables["intended_outcomes"].copy()
    frame.loc[0, "gas_p1"] = frame.loc[0, "target"] / 2  # below the target
    failures = _failures("intended_outcomes", frame)
    assert (failures["check"].astype(str).str.startswith("gas_thresholds_ordered")).any()


def test_proxy_value_only_on_calculate_items(programme) -> None:
    frame = programme.tables["value_items"].copy()
    row = frame.index[frame["value_kind"] == "calibrate"][0]
    frame.loc[row, "proxy_value_gbp"] = 100.0
    failures = _failures("value_items", frame)
    rule = failures[failures["check"].astype(str).str.startswith("proxy_value_only_for_calculate")]
    assert set(rule["index"].astype(int)) == {row}


def test_missing_required_column_is_reported_by_name(programme) -> None:
    frame = programme.tables["comparison_records"].drop(columns=["ltc_count"])
    failures = _failures("comparison_records", frame)
    missing = failures[failures["check"] == "column_in_dataframe"]
    assert missing["failure_case"].tolist() == ["ltc_count"]


def test_answer_scales_map_labels_case_and_space_insensitively() -> None:
    scale = contract.answer_scales()["swemwbs"]
    mapping = scale.label_to_value()
    assert mapping[contract.fold_label("  all of the   TIME ")] == 5
    assert mapping[contract.fold_label("None of the time")] == 1
    assert contract.answer_scales()["empowers"].label_to_value() == {}


def test_table_keys_identify_rows() -> None:
    assert contract.table_keys("survey_responses") == ["response_id"]
    assert contract.table_keys("intended_outcomes") == ["site_id", "outcome_id"]
    assert contract.table_keys("comparison_records") == ["person_id"]


def test_contract_version_changes_with_the_schemas(tmp_path) -> None:
    for path in SCHEMAS_DIR.glob("*.yaml"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    before = contract.schemas_fingerprint(tmp_path)
    (tmp_path / "sites.yaml").write_text((tmp_path / "sites.yaml").read_text() + "\n# changed\n")
    assert contract.schemas_fingerprint(tmp_path) != before
