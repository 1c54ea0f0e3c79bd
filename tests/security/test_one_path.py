"""Uploaded text reaches a page one way only. The reports and the reporting package are
read as code (not run): only ``present`` writes to the page, every value a report
interpolates into its own Markdown goes through ``plain`` (the markdown target of
``reval.inert.inert``) unless it is one of reval's own values listed here with why, and
every figure label that is not a constant is drawn with mathtext and TeX off."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from reval.inert import FIGURE_TEXT, inert

ROOT = Path(__file__).resolve().parents[2]
REPORT_SOURCES = sorted((ROOT / "reports").glob("*.py"))
REPORTING = sorted((ROOT / "src" / "reval" / "reporting").glob("*.py"))
PAGE_WRITERS = {"display", "Markdown", "HTML", "Latex", "Javascript", "print"}
ESCAPERS = {"plain", "count_text"}
REVAL_OWN_VALUES = {
    "data.run_id": "the run's id, made by reval",
    "data.finished_at": "a date reval formats",
    "len(data.site_ids)": "a number",
    "method.replace('_', ' ').capitalize()": "reval's own method names (reval.methods)",
    "text": "reval's own method explanations (reval.methods)",
}
TRUSTED_SENTENCES = {"content.plain_change": "reval's own sentences about stored estimates"}
FIGURE_LABEL_CALLS = {"text": 2, "set_yticks": 1, "set_xticks": 1, "set_yticklabels": 0,
                      "set_xticklabels": 0, "annotate": 0}  # fmt: skip


def _name(call: ast.Call) -> str:
    return ast.unparse(call.func).rsplit(".", 1)[-1]


def _plain_names(tree: ast.AST) -> set[str]:
    """Names a module binds straight from an escaper (``name = plain(...)``)."""
    return {target.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call) and _name(node.value) in ESCAPERS
            for target in node.targets if isinstance(target, ast.Name)}  # fmt: skip


def unescaped(node: ast.AST, safe_names: set[str]) -> list[str]:
    """Parts of a Markdown-building expression that reach the page unescaped."""
    if isinstance(node, ast.Constant):
        return []
    if isinstance(node, ast.JoinedStr):
        return [p for v in node.values if isinstance(v, ast.FormattedValue)
                for p in unescaped(v.value, safe_names)]  # fmt: skip
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return unescaped(node.left, safe_names) + unescaped(node.right, safe_names)
    if isinstance(node, ast.IfExp):
        return unescaped(node.body, safe_names) + unescaped(node.orelse, safe_names)
    if isinstance(node, ast.Call) and _name(node) in ESCAPERS:
        return []
    if (
        isinstance(node, ast.Call)
        and _name(node) == "join"
        and isinstance(node.func, ast.Attribute)
    ):
        inner = node.args[0]
        if isinstance(inner, ast.GeneratorExp | ast.ListComp):
            return unescaped(inner.elt, safe_names)
    if isinstance(node, ast.Name) and node.id in safe_names:
        return []
    text = ast.unparse(node)
    return [] if text in REVAL_OWN_VALUES else [text]


def report_problems(source: str) -> list[str]:
    """Every way a report source could put uploaded text on the page unescaped."""
    tree = ast.parse(source)
    safe = _plain_names(tree)
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = {a.name for a in node.names} | {getattr(node, "module", "") or ""}
            problems += [
                f"imports {n}" for n in names if n in PAGE_WRITERS or n.startswith("IPython")
            ]
        if not isinstance(node, ast.Call):
            continue
        name = _name(node)
        if name in PAGE_WRITERS:
            problems.append(f"writes to the page itself: {ast.unparse(node)[:80]}")
        trusted = any(k.arg == "trusted" and not (isinstance(k.value, ast.Constant) and not k.value.value)
                      for k in node.keywords)  # fmt: skip
        if name == "show_text":
            problems += [
                f"unescaped in show_text: {p}" for a in node.args for p in unescaped(a, safe)
            ]
        if name == "show_list" and trusted:
            first = node.args[0]
            if not (isinstance(first, ast.Call) and ast.unparse(first.func) in TRUSTED_SENTENCES):
                problems.append(
                    f"trusted list not from reval's own sentences: {ast.unparse(first)[:80]}"
                )
        if name in {"show_table", "show_list", "show_figure"}:
            for extra in [*node.args[1:], *node.keywords]:
                value = extra.value if isinstance(extra, ast.keyword) else extra
                if extra is not None and not isinstance(value, ast.Constant | ast.Tuple):
                    problems.append(f"caption or message not a constant: {ast.unparse(value)[:80]}")
        if ast.unparse(node.func).startswith("figures."):
            problems += [f"figure title not a constant: {ast.unparse(k.value)[:80]}"
                         for k in node.keywords if not isinstance(k.value, ast.Constant)]  # fmt: skip
    return problems


def figure_problems(source: str) -> list[str]:
    """Figure text that is not a constant and is drawn with mathtext or TeX on."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        position = FIGURE_LABEL_CALLS.get(node.func.attr)
        if position is None or len(node.args) <= position:
            continue
        if isinstance(node.args[position], ast.Constant):
            continue
        if not any(k.arg is None and ast.unparse(k.value) == "FIGURE_TEXT" for k in node.keywords):
            problems.append(f"line {node.lineno}: {ast.unparse(node)[:90]}")
    return problems


@pytest.mark.parametrize("path", REPORT_SOURCES, ids=lambda p: p.name)
def test_report_sources_show_uploaded_text_only_through_the_one_function(path: Path) -> None:
    assert report_problems(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "path", [p for p in REPORTING if p.name != "present.py"], ids=lambda p: p.name
)
def test_only_present_writes_to_the_page(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = [ast.unparse(n)[:80] for n in ast.walk(tree)
             if isinstance(n, ast.Call) and _name(n) in PAGE_WRITERS - {"print"}]  # fmt: skip
    assert calls == []


def test_every_figure_label_from_data_is_drawn_with_mathtext_off() -> None:
    figures = ROOT / "src" / "reval" / "reporting" / "figures.py"
    assert figure_problems(figures.read_text(encoding="utf-8")) == []
    assert FIGURE_TEXT == {"parse_math": False, "usetex": False}


def test_the_walk_finds_each_way_around_the_one_function() -> None:
    """The checks above bite: each of these report lines is caught."""
    bad = {
        'show_text(f"**{data.site_name(site)}**")': "unescaped in show_text",
        'show_text("Strongest: " + ", ".join(f"**{b}**" for b in strongest["behaviour"]))': "unescaped",
        "show_list(content.chosen_stories(data.stories, site), trusted=True)": "trusted list",
        "show_table(frame, caption=name)": "not a constant",
        "show_figure(figures.timeline_chart(events, title=name), 'Figure')": "figure title",
        "from IPython.display import Markdown": "imports",
        "display(Markdown(story))": "writes to the page",
    }
    for line, expected in bad.items():
        problems = report_problems(line)
        assert any(expected in p for p in problems), (line, problems)
    assert figure_problems("axes.text(0, 1, event.description)")
    assert not figure_problems("axes.text(0, 1, event.description, **FIGURE_TEXT)")
    assert not report_problems('name = plain(data.site_name(site))\nshow_text(f"**{name}**")')


@pytest.mark.parametrize(
    ("value", "markdown", "figure", "cell"),
    [
        ("<b>x</b>", "\\<b\\>x\\<\\/b\\>", "<b>x</b>", "<b>x</b>"),
        (
            "https://evil.example",
            "https\\:\\/\\/evil\\.example",
            "https://evil.example",
            "https://evil.example",
        ),
        ("@nurse_jo $x^$", "\\@nurse\\_jo \\$x\\^\\$", "@nurse_jo $x^$", "@nurse_jo $x^$"),
        ("=1+1\r\nnext", "\\=1\\+1 next", "=1+1 next", "=1+1\r\nnext"),
        ("abc\u202egnp\x00.exe", "abcgnp\\.exe", "abcgnp.exe", "abcgnp.exe"),
    ],
)
def test_one_function_escapes_for_each_target(
    value: str, markdown: str, figure: str, cell: str
) -> None:
    assert inert(value, "markdown") == markdown
    assert inert(value, "figure") == figure
    assert inert(value, "cell") == cell


def test_a_cell_holds_at_most_what_a_spreadsheet_cell_can() -> None:
    assert len(inert("x" * 40_000, "cell")) == 32_767
