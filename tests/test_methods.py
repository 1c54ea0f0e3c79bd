"""Every analysis explains its method in plain words, including what it assumes."""

from __future__ import annotations

from reval.methods import method_explanations


def test_every_analysis_has_a_plain_words_method() -> None:
    methods = method_explanations()
    assert set(methods) == {"survey_change", "attrition", "paradigm_shift", "matched_comparison",
                            "revaluation_account", "intended_vs_actual"}  # fmt: skip
    for name, text in methods.items():
        assert len(text.split()) > 40, name
        assert "p-value" not in text.lower(), name


def test_the_notes_say_what_each_method_assumes_or_limits() -> None:
    methods = method_explanations()
    assert "assumes" in methods["survey_change"]
    assert "assumes" in methods["matched_comparison"]
    assert "reliability" in methods["intended_vs_actual"]
    assert "Benjamini-Hochberg" in methods["intended_vs_actual"]
    assert "missing at random" in methods["attrition"]
    assert "never as one bare figure" in methods["revaluation_account"]
    assert "response shift" in methods["paradigm_shift"]
    assert (
        "reval's own extension of Revaluation, not a validated scale" in methods["paradigm_shift"]
    )
    assert all(not text.startswith("Method") for text in methods.values())
    assert all(text[0].isupper() for text in methods.values())  # after "**Survey change.**"
