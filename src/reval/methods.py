"""Plain-English method notes, one per analysis, for the reports' methods appendix.

Each analysis module states its method in its docstring under "Method, in plain
words"; this module collects those paragraphs so reports quote the code's own
account of what it does and assumes, never a second copy that can drift.
"""

from __future__ import annotations

import inspect
import re
from types import ModuleType

from reval import attrition, intended, matching, paradigm, revaluation, survey

ANALYSES: dict[str, ModuleType] = {
    "survey_change": survey,
    "attrition": attrition,
    "paradigm_shift": paradigm,
    "matched_comparison": matching,
    "revaluation_account": revaluation,
    "intended_vs_actual": intended,
}

MARKER = "Method, in plain words"


def method_explanations() -> dict[str, str]:
    """Analysis name -> its plain-words method paragraph(s)."""
    out = {}
    for name, module in ANALYSES.items():
        text = inspect.getdoc(module) or ""
        if MARKER in text:  # the rest of the module docstring
            lines = text[text.index(MARKER) :].splitlines()
        else:  # a comment block in the source
            source = inspect.getsource(module)
            block = source[source.index(MARKER) :].split("\n\n")[0]
            lines = [line.strip().lstrip("#").strip() for line in block.splitlines()]
        body = " ".join(line.strip() for line in lines if line.strip())
        body = re.sub(r"^Method, in plain words(\s*\([^)]*\))?:\s*", "", body)
        out[name] = body[:1].upper() + body[1:]  # a paragraph starts with a capital
    return out
