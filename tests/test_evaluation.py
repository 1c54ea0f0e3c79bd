"""Every model for the programme, per site and pooled, stored by run and read back."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from reval.cli import app
from reval.evaluation import RESULT_COLUMNS, evaluate_programme
from reval.pipeline import evaluate, stored_results
from reval.warehouse import Warehouse

KINDS = {"survey_change", "paradigm_index", "paradigm_statement", "empowers", "did",
         "matched_rate_ratio", "value_account", "gas_t", "retention", "stayers_vs_leavers",
         "ipw_change"}  # fmt: skip


@pytest.fixture(scope="module")
def evaluation(programme):
    return evaluate_programme(programme.tables)


def test_every_kind_of_estimate_for_every_site_and_pooled(evaluation) -> None:
    results = evaluation.results
    assert list(results.columns) == RESULT_COLUMNS
    assert set(results["kind"]) == KINDS
    assert set(results["status"]) <= {"ok", "unbalanced"}
    sites = {"wellbeing_erewash", "royal_free_staff", "stockport_together", "gm_cancer",
             "airedale_care_homes", "morecambe_bay"}  # fmt: skip
    assert set(results["site_id"]) == sites | {"all"}
    for site in sites:
        assert set(results.loc[results["site_id"] == site, "kind"]) >= KINDS
    assert len(evaluation.intended) == 22
    assert evaluation.failures == []


def test_one_sites_failure_does_not_stop_the_others(programme) -> None:
    def broken(site: str) -> None:
        if site == "gm_cancer":
            raise ValueError("model diverged")

    result = evaluate_programme(programme.tables, site_hook=broken)
    assert [f["site_id"] for f in result.failures] == ["gm_cancer"]
    failed = result.results[result.results["status"] == "failed"]
    assert failed[["site_id", "message"]].to_dict("records") == [
        {"site_id": "gm_cancer", "message": "ValueError: model diverged"}
    ]
    others = result.results[result.results["site_id"] == "morecambe_bay"]
    assert set(others["kind"]) >= KINDS
    assert "gm_cancer" not in set(result.intended["site_id"])


def test_results_are_stored_by_run_and_a_rerun_replaces_not_duplicates(
    evaluated_sample, tmp_path
) -> None:
    settings, run_id = evaluated_sample(tmp_path / "workspace")  # loaded and evaluated once
    _run_id, first = evaluate(settings, run_id=run_id)  # the same run again
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        stored = warehouse.con.execute(
            "SELECT count(*) FROM results WHERE run_id = ?", [run_id]
        ).fetchone()[0]
    assert stored == len(first.results)
    run, results, _intended = stored_results(settings, site_id="all")
    assert run == run_id
    assert set(results["site_id"]) == {"all"}
    output = CliRunner(env={"REVAL_HOME": str(settings.home)}).invoke(app, ["results", "--json"])
    assert output.exit_code == 0, output.output
    rows = json.loads(output.output)
    estimates = [r for r in rows if "kind" in r]
    outcomes = [r for r in rows if "outcome_id" in r]
    assert len(estimates) == len(first.results)
    assert len(outcomes) == 22
    assert set(estimates[0]) == {
        "site_id",
        "measure",
        "kind",
        "estimate",
        "ci_low",
        "ci_high",
        "n",
        "status",
    }
    assert set(outcomes[0]) == {"site_id", "outcome_id", "measure", "classification", "gas_level"}
