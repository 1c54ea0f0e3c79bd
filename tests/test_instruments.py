"""The instrument registry (schemas/instruments.yaml): each instrument scored as its
published rules say, the rules' source cited, and a programme's own Likert battery
declared in programme.yaml scored by the same engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reval.contract import instrument_registry, programme_contract
from reval.programme import ProgrammeError, parse_programme
from reval.scales import instrument_scores

REGISTRY = instrument_registry()


def _answers(instrument: str, rows: list[list[float | None]]) -> pd.DataFrame:
    columns = REGISTRY[instrument].item_columns
    return pd.DataFrame(rows, columns=list(columns)).astype("Float64")


def test_the_registry_ships_the_five_instruments_each_with_its_source() -> None:
    assert {"swemwbs", "wemwbs", "ucla3", "ons4", "empowers"} <= set(REGISTRY)
    for instrument in REGISTRY.values():
        assert len(instrument.citation) > 60, instrument.key
        assert instrument.item_columns[0].startswith(instrument.columns.split("{")[0])


def test_swemwbs_raw_sums_convert_with_the_published_table() -> None:
    """Stewart-Brown et al. 2009, Table 3: 7 -> 7.00, 14 -> 15.32, 21 -> 19.25, 28 -> 25.03,
    35 -> 35.00; no prorating, so a missing item gives no score."""
    swemwbs = REGISTRY["swemwbs"]
    assert swemwbs.item_columns == tuple(f"swemwbs_{i}" for i in range(1, 8))
    scores = instrument_scores(_answers("swemwbs", [[1] * 7, [2] * 7, [3] * 7, [4] * 7, [5] * 7,
                                                    [5, 5, 5, 5, 5, 5, None]]), swemwbs)  # fmt: skip
    assert scores["swemwbs"].iloc[:5].tolist() == [7.00, 15.32, 19.25, 25.03, 35.00]
    assert np.isnan(scores["swemwbs"].iloc[5])
    assert swemwbs.reliable_change == 2.85  # 2.77 SEM x 1.03 (Shah et al. 2018)
    assert swemwbs.better == "higher"


def test_wemwbs_is_the_sum_of_fourteen_items_and_needs_every_one() -> None:
    """Tennant et al. 2007: fourteen positively worded items, 1-5 each, summed 14-70."""
    wemwbs = REGISTRY["wemwbs"]
    assert len(wemwbs.items) == 14
    assert wemwbs.reverse_items == frozenset()
    rows = [[1] * 14, [5] * 14, list(range(1, 6)) * 2 + [1, 2, 3, 4], [3] * 13 + [None]]
    scores = instrument_scores(_answers("wemwbs", rows), wemwbs)["wemwbs"]
    assert scores.iloc[:3].tolist() == [14.0, 70.0, 40.0]
    assert np.isnan(scores.iloc[3])
    assert wemwbs.range == (14.0, 70.0)


def test_ucla3_sums_three_items_higher_is_lonelier() -> None:
    """Hughes et al. 2004: three items scored 1-3, summed 3-9; higher is lonelier."""
    ucla = REGISTRY["ucla3"]
    scores = instrument_scores(_answers("ucla3", [[1, 1, 1], [3, 3, 3], [1, 2, 3], [2, None, 2]]),
                               ucla)["ucla3"]  # fmt: skip
    assert scores.iloc[:3].tolist() == [3.0, 9.0, 6.0]
    assert np.isnan(scores.iloc[3])
    assert ucla.better == "lower"


def test_ons4_is_four_separate_questions_never_summed() -> None:
    """ONS personal well-being guidance: four 0-10 questions reported separately; anxiety
    is the one where lower is better."""
    ons4 = REGISTRY["ons4"]
    assert ons4.measures == ("ons4_1", "ons4_2", "ons4_3", "ons4_4")
    scores = instrument_scores(_answers("ons4", [[7, 8, 6, 2], [0, None, 10, 10]]), ons4)
    assert list(scores.columns) == list(ons4.measures)
    assert scores.iloc[0].tolist() == [7.0, 8.0, 6.0, 2.0]
    assert np.isnan(scores.loc[1, "ons4_2"])
    assert [ons4.better_for(m) for m in ons4.measures] == ["higher", "higher", "higher", "lower"]


def test_empowers_is_eight_ratings_each_its_own_measure() -> None:
    empowers = REGISTRY["empowers"]
    assert empowers.measures[1] == "emp_mobilises"
    assert len(empowers.measures) == 8
    scores = instrument_scores(_answers("empowers", [list(range(8))]), empowers)
    assert scores.iloc[0].tolist() == [float(v) for v in range(8)]


OWN = """\
title: Confidence programme
instruments: [confidence, ons4]
own_instruments:
  confidence:
    name: Confidence in managing my health
    display_name: Confidence (1-5)
    plain_name: confidence
    answers: {values: [1, 2, 3, 4, 5], labels: [Not at all, A little, Somewhat, Quite, Very]}
    items: {1: I can look after my health, 2: I know where to get help, 3: I feel stuck,
            4: I can help others}
    reverse_items: [3]
    scoring: mean
    minimum_items: 3
    range: [1, 5]
    better: higher
    citation: Written with the programme's participants in 2024; item 3 is reverse scored.
"""


def test_a_programme_declares_its_own_likert_battery() -> None:
    contract = programme_contract(parse_programme(OWN))
    (confidence, ons4) = contract.instruments
    assert confidence.item_columns == ("confidence_1", "confidence_2", "confidence_3",
                                       "confidence_4")  # fmt: skip
    survey = contract.schema("survey_responses")
    assert {"confidence_1", "ons4_4"} <= set(survey.columns)
    assert "swemwbs_1" not in survey.columns
    answers = pd.DataFrame({"confidence_1": [4, 4, 5], "confidence_2": [2, 4, None],
                            "confidence_3": [5, 2, None], "confidence_4": [3, 4, 5]})  # fmt: skip
    scores = instrument_scores(answers, confidence)["confidence"]
    assert scores.iloc[0] == pytest.approx((4 + 2 + 1 + 3) / 4)  # item 3 reversed: 6 - 5
    assert scores.iloc[1] == pytest.approx((4 + 4 + 4 + 4) / 4)
    assert np.isnan(scores.iloc[2])  # two of four answered: fewer than minimum_items
    assert set(contract.survey_measures) == {"confidence", *ons4.measures, "paradigm_index"}
    # labels are accepted in the upload like any registry scale
    assert confidence.scale.label_to_value()["quite"] == 4


@pytest.mark.parametrize(
    ("change", "line", "words"),
    [
        (
            "    scoring: median\n",
            12,
            "'scoring' is 'median'; allowed: sum, mean, conversion, each_item",
        ),
        ("    reverse_items: [9]\n", 11, "'reverse_items' names items that are not in 'items'"),
        ("    better: up\n", 15, "'better' is higher or lower"),
    ],
)
def test_a_wrong_own_battery_says_what_is_allowed(change, line, words) -> None:
    key = change.split(":")[0]
    text = "\n".join(change.rstrip("\n") if line.startswith(key + ":") else line
                     for line in OWN.splitlines())  # fmt: skip
    with pytest.raises(ProgrammeError) as raised:
        parse_programme(text)
    assert f"line {line}: own_instruments: confidence:" in str(raised.value)
    assert words in str(raised.value)
