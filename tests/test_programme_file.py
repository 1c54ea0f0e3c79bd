"""The programme file: what differs between programmes is configuration. reval init writes
the sample programme's file with comments; a programme's categories, instruments and title
refine the shipped schemas; a wrong file names the key, the line and what is allowed."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
import pytest
from typer.testing import CliRunner

from reval.cli import app
from reval.config import SCHEMAS_DIR
from reval.contract import default_contract, programme_contract, table_schema
from reval.ingest.cleaning import clean_table
from reval.ingest.readers import read_tables
from reval.ingest.validation import validate_table
from reval.pipeline import init_workspace, workspace_contract
from reval.programme import (
    DEFAULT_PROGRAMME_YAML,
    ProgrammeError,
    load_programme,
    parse_programme,
)
from reval.reporting.render import _page_title
from tests.test_error_messages import SURVEY_HEADER, _row

runner = CliRunner()

OWN_BANDS = """\
title: Halton and Knowsley Together
instruments: [swemwbs, ucla3, empowers]
categories:
  age_band: [16-24, 25-44, 45-64, 65-74, 75+]
  role: [member, organiser, staff]
"""


def test_init_writes_the_sample_programme_file_with_comments(settings) -> None:
    init_workspace(settings)
    text = (settings.home / "programme.yaml").read_text(encoding="utf-8")
    assert text == DEFAULT_PROGRAMME_YAML
    assert text.count("\n#") > 10  # explained line by line
    programme = load_programme(settings.home)
    assert programme.title == "Health as a Social Movement"
    assert programme.instruments == ("swemwbs", "ucla3", "empowers")
    assert programme.waves == {}
    assert programme.wave_name(1) == "wave 1"
    # an edited file is never overwritten by init
    (settings.home / "programme.yaml").write_text(OWN_BANDS, encoding="utf-8")
    init_workspace(settings)
    assert load_programme(settings.home).title == "Halton and Knowsley Together"


def test_the_default_programme_gives_exactly_the_shipped_contract() -> None:
    survey = default_contract().schema("survey_responses")
    assert [c for c in survey.columns if c.startswith(("swemwbs_", "ucla_", "emp_"))] == [
        *(f"swemwbs_{i}" for i in range(1, 8)), *(f"ucla_{i}" for i in range(1, 4)),
        "emp_empathises", "emp_mobilises", "emp_powers", "emp_orbits", "emp_waves",
        "emp_experiments", "emp_rages", "emp_selfgoverns",
    ]  # fmt: skip
    # the items sit where the schema file says, before the paradigm columns
    names = list(survey.columns)
    assert names.index("imd_quintile") + 1 == names.index("swemwbs_1")
    assert names.index("emp_selfgoverns") + 1 == names.index("^para_[a-z][a-z0-9_]*_now$")
    assert survey.columns["ucla_2"].description == (
        "How often do you feel left out? (1 = Hardly ever, 2 = Some of the time, 3 = Often)."
    )


def test_programme_categories_override_the_schema_defaults(tmp_path) -> None:
    contract = programme_contract(parse_programme(OWN_BANDS))
    survey = contract.schema("survey_responses")
    checks = {c.name: c.statistics for c in survey.columns["age_band"].checks}
    assert checks == {"isin": {"allowed_values": ["16-24", "25-44", "45-64", "65-74", "75+"]}}
    # the shipped schema is untouched: any bands there
    assert "age_band" in {
        c.name for c in table_schema("survey_responses").columns["age_band"].checks
    }
    path = tmp_path / "survey_responses.csv"
    rows = [_row(response_id="A1", respondent_id="P1", role="member", age_band="25-44"),
            _row(response_id="A2", respondent_id="P2", role="resident", age_band="25-34")]  # fmt: skip
    path.write_text("\n".join([SURVEY_HEADER, *rows]) + "\n", encoding="utf-8")
    (sheet,) = read_tables(path).tables
    validated = validate_table(clean_table(sheet, contract), contract=contract)
    assert list(validated.accepted.index) == [2]
    found = sorted((p.row, p.column, p.value, p.reason) for p in validated.problems)
    assert found == [
        (3, "age_band", "25-34", "not_allowed"),
        (3, "role", "resident", "not_allowed"),
    ]
    messages = " ".join(p.message() for p in validated.problems)
    assert "16-24, 25-44, 45-64, 65-74, 75+" in messages
    assert "member, organiser, staff" in messages


def test_the_schema_version_changes_when_the_programme_file_does(settings) -> None:
    init_workspace(settings)
    before = workspace_contract(settings).version
    assert before == default_contract().version
    (settings.home / "programme.yaml").write_text(OWN_BANDS, encoding="utf-8")
    after = workspace_contract(settings).version
    assert after != before
    (settings.home / "programme.yaml").write_text(OWN_BANDS + "\n# a comment\n", encoding="utf-8")
    assert workspace_contract(settings).version not in {before, after}


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("title: A programme\ninstrument: [swemwbs]\n", 2,
         "instrument: is not a key reval knows here; allowed: title, instruments, categories, waves"),
        ("title: A programme\ninstruments: [swemwbs, wembws]\n", 2,
         "'wembws' is not an instrument reval knows; allowed: empowers, ucla3, swemwbs"),
        ("title: A\n", 1, "title: should be 3 to 120 characters"),
        ("title: A programme\ncategories:\n  ethnicity: [a, b]\n", 3,
         "ethnicity: is not a key reval knows here; allowed: role, age_band, sex, proposed_by"),
        ("categories:\n  age_band: [16-24, 20-29]\n", 2,
         "categories: age_band: the bands 16-24 and 20-29 overlap"),
        ("categories:\n  age_band: [16-24, over 65]\n", 2,
         "'over 65' is not an age band; write N-M with the youngest age first"),
        ("categories:\n  role: resident\n", 2, "categories: role: should be a list"),
        ("waves:\n  first: baseline\n", 2, "'first' is not a wave number"),
        ("title: [unclosed\n", 2, "this is not valid YAML"),
    ],
)  # fmt: skip
def test_a_wrong_programme_file_names_the_key_line_and_what_is_allowed(
    tmp_path, text, line, words
) -> None:
    path = tmp_path / "programme.yaml"
    with pytest.raises(ProgrammeError) as raised:
        parse_programme(text, path)
    message = str(raised.value)
    assert message.startswith(f"{path}, line {line}: ")
    for part in words.split("; allowed: "):
        assert part.split(", ")[0] in message
    if "; allowed: " in words:
        for allowed in words.split("; allowed: ")[1].split(", "):
            assert allowed in message


def test_programme_check_and_show_commands(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REVAL_HOME", str(tmp_path / "ws"))
    assert runner.invoke(app, ["init"]).exit_code == 0
    checked = runner.invoke(app, ["programme", "check"])
    assert checked.exit_code == 0, checked.output
    assert "is valid: 'Health as a Social Movement'" in checked.output
    (tmp_path / "ws" / "programme.yaml").write_text(OWN_BANDS, encoding="utf-8")
    shown = runner.invoke(app, ["programme", "show"])
    assert shown.exit_code == 0, shown.output
    assert "Programme: Halton and Knowsley Together" in shown.output
    assert "age_band (text, optional): one of: 16-24, 25-44, 45-64, 65-74, 75+" in shown.output
    assert "swemwbs: Short Warwick-Edinburgh Mental Wellbeing Scale" in shown.output
    assert "Stewart-Brown" in shown.output  # the scoring rules' source
    (tmp_path / "ws" / "programme.yaml").write_text(
        "title: X programme\nfoo: 1\n", encoding="utf-8"
    )
    broken = runner.invoke(app, ["programme", "check"])
    assert broken.exit_code == 2
    assert "line 2: foo: is not a key reval knows here" in broken.output


def test_templates_follow_the_programme(tmp_path, monkeypatch) -> None:
    import openpyxl

    monkeypatch.setenv("REVAL_HOME", str(tmp_path / "ws"))
    runner.invoke(app, ["init"])
    (tmp_path / "ws" / "programme.yaml").write_text(OWN_BANDS, encoding="utf-8")
    result = runner.invoke(app, ["templates", str(tmp_path / "t")])
    assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(tmp_path / "t" / "survey_responses.xlsx")
    assert book.properties.title.startswith("Halton and Knowsley Together")
    lists = book["lists"]
    values = {str(c.value) for row in lists.iter_rows() for c in row if c.value is not None}
    assert {"member", "organiser", "25-44"} <= values


def test_a_report_title_printed_by_its_first_cell_becomes_the_page_title() -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("show_text(...)")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "text/markdown": "# Halton and Knowsley Together\\: what changed\n\nmore"})]  # fmt: skip
    notebook.cells = [cell]
    assert _page_title(notebook, "programme", {"site_id": ""}) == (
        "Halton and Knowsley Together: what changed"
    )


def test_shipped_schemas_stay_valid_pandera_yaml_without_instrument_items() -> None:
    schema = pa.DataFrameSchema.from_yaml(SCHEMAS_DIR / "survey_responses.yaml")
    assert not any(c.startswith("swemwbs_") for c in schema.columns)
    frame = pd.DataFrame({"site_id": ["halton-wellbeing"]})
    assert schema.columns["site_id"].validate(frame) is not None
