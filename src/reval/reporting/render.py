"""Rendering report sources to self-contained HTML and PDF, with or without Quarto.

Sources are percent-format Python scripts (``# %%`` cells, a cell tagged
``parameters``), which Quarto renders directly and which the built-in renderer reads
too. With the Quarto CLI (``REVAL_QUARTO`` or ``quarto`` on PATH) reval runs
``quarto render`` by subprocess with the parameters, a timeout and the log kept.
Without it: jupytext reads the source, the parameters are injected after the
``parameters`` cell, nbclient executes it, nbconvert writes the HTML (images embedded,
code hidden, one file), and pandoc + typst (both shipped inside their wheels) write
the PDF. Either way a failure names the chunk that failed.
"""

from __future__ import annotations

import atexit
import base64
import html as html_lib
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from reval.errors import RevalError
from reval.inert import inert

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
Format = Literal["html", "pdf"]
Engine = Literal["quarto", "builtin"]


class RenderError(RevalError):
    """A report did not render; the message names the failing chunk and the log tail."""

    def __init__(self, source: Path, chunk: str, detail: str) -> None:
        detail = ANSI_ESCAPE.sub("", detail)  # kernels colour their tracebacks; logs want text
        self.source, self.chunk, self.detail = source, chunk, detail
        super().__init__(f"{source.name} did not render: {chunk} failed.\n{detail.strip()[-2000:]}")


@dataclass(frozen=True)
class RenderedReport:
    outputs: dict[str, Path]
    engine: Engine
    log: str = ""
    alt_texts: list[str] = field(default_factory=list)


def quarto_command(configured: str | None) -> str | None:
    """The Quarto CLI to use, if there is one."""
    if configured:
        return configured
    return shutil.which("quarto")


def render_report(
    source: Path,
    out_dir: Path,
    stem: str,
    params: Mapping[str, object],
    formats: Sequence[Format] = ("html", "pdf"),
    *,
    quarto: str | None = None,
    timeout: float = 600.0,
    kernel: WarmKernel | None = None,
) -> RenderedReport:
    """Render ``source`` to ``out_dir/stem.<format>`` for each format. The built-in
    renderer uses ``kernel`` when given (one warm kernel for many reports), else a fresh one."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if quarto:
        return _render_with_quarto(quarto, source, out_dir, stem, params, formats, timeout)
    return _render_builtin(source, out_dir, stem, params, formats, timeout, kernel)


class WarmKernel:
    """One Jupyter kernel kept alive across several reports rendered one after another in
    the same thread. Starting a kernel and importing pandas, matplotlib and reval costs
    seconds per report; the namespace is reset between reports, the imports stay."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.manager: object | None = None
        self._warming: threading.Thread | None = None

    def __enter__(self) -> WarmKernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def alive(self) -> bool:
        self._finish_warming()
        return self.manager is not None and bool(self.manager.is_alive())  # type: ignore[attr-defined]

    def shutdown(self) -> None:
        self._finish_warming()
        if self.manager is not None:
            self.manager.shutdown_kernel(now=True)  # type: ignore[attr-defined]
            self.manager = None

    def warm_in_background(self) -> None:
        """Start the kernel and import what reports use, on a thread of its own: started
        while the models are fitted (one core busy), the kernel is ready when the reports
        are. Whoever uses the kernel first waits for the warm-up to end."""
        self._warming = threading.Thread(
            target=self._warm, name="reval-kernel-warm-up", daemon=True
        )
        self._warming.start()

    def _warm(self) -> None:
        try:
            manager = self._started()
            client = manager.client()  # type: ignore[attr-defined]
            client.start_channels()
            try:
                client.wait_for_ready(timeout=120)
                client.execute_interactive(WARM_UP, store_history=False, timeout=120,
                                          output_hook=lambda message: None)  # fmt: skip
            finally:
                client.stop_channels()
        except Exception:  # a kernel that failed to warm is replaced when it is used
            if self.manager is not None and not self.manager.is_alive():  # type: ignore[attr-defined]
                self.manager = None

    def _finish_warming(self) -> None:
        if self._warming is not None and self._warming is not threading.current_thread():
            self._warming.join()
            self._warming = None

    def _started(self) -> object:
        from jupyter_client import KernelManager

        if self.manager is None:
            self.manager = KernelManager(kernel_name="python3")
            self.manager.start_kernel(cwd=str(self.cwd))  # type: ignore[attr-defined]
        return self.manager

    def client_for(self, notebook: object, timeout: float) -> object:
        from nbclient import NotebookClient

        self._finish_warming()
        if self.manager is not None and not self.manager.is_alive():  # type: ignore[attr-defined]
            self.manager = None
        self._started()
        notebook.cells.insert(0, _code_cell("%reset -f", "injected"))  # type: ignore[attr-defined]
        return NotebookClient(notebook, km=self.manager, timeout=timeout, kernel_name="python3",
                              resources={"metadata": {"path": str(self.cwd)}})  # fmt: skip


WARM_UP = (
    "import matplotlib.pyplot as plt\n"
    "import pandas\n"
    "import reval.methods, reval.reporting.content, reval.reporting.figures\n"
    "import reval.reporting.inputs, reval.reporting.present\n"
    "plt.close(plt.figure(figsize=(1, 1)).text(0, 0, 'a').figure)"
)
"""What every report imports first (seconds of a kernel's start), and one figure with
text so matplotlib has its fonts loaded before the first report's first chart."""

_IDLE_KERNELS: dict[Path, list[WarmKernel]] = {}
_IDLE_LOCK = threading.Lock()


def warm_kernels(cwd: Path, count: int) -> None:
    """Make sure ``count`` kernels for ``cwd`` are idle in this process's pool, starting and
    warming the missing ones in the background; ``pooled_kernel`` hands them out."""
    with _IDLE_LOCK:
        idle = _IDLE_KERNELS.setdefault(cwd, [])
        missing = [WarmKernel(cwd) for _ in range(count - len(idle))]
        idle.extend(missing)
    for kernel in missing:
        kernel.warm_in_background()


@contextmanager
def pooled_kernel(cwd: Path) -> Iterator[WarmKernel]:
    """A warm kernel for ``cwd``, idle from an earlier render in this process when there is
    one, given back after use: a process that renders again (the portal, a test session)
    skips the seconds each kernel takes to start and import pandas, matplotlib and reval.
    A kernel that broke or died is shut down, never given back; the idle ones are shut
    down at exit (and end with their parent anyway)."""
    with _IDLE_LOCK:
        idle = _IDLE_KERNELS.get(cwd, [])
        kernel = idle.pop() if idle else WarmKernel(cwd)
    try:
        yield kernel
    except BaseException:
        kernel.shutdown()
        raise
    if kernel.alive():
        with _IDLE_LOCK:
            _IDLE_KERNELS.setdefault(cwd, []).append(kernel)
    else:
        kernel.shutdown()


@atexit.register
def shutdown_idle_kernels() -> None:
    with _IDLE_LOCK:
        kernels = [k for idle in _IDLE_KERNELS.values() for k in idle]
        _IDLE_KERNELS.clear()
    for kernel in kernels:
        kernel.shutdown()


def _code_cell(source: str, tag: str) -> object:
    import nbformat

    return nbformat.v4.new_code_cell(source, metadata={"tags": [tag]})


def _render_with_quarto(quarto: str, source: Path, out_dir: Path, stem: str, params: Mapping[str, object],
                        formats: Sequence[Format], timeout: float) -> RenderedReport:  # fmt: skip
    outputs: dict[str, Path] = {}
    logs = []
    for fmt in formats:
        target = f"{stem}.{fmt}"
        command = [quarto, "render", str(source), "--to", fmt, "--output", target,
                   "--output-dir", str(out_dir)]  # fmt: skip
        for key, value in params.items():
            command += ["-P", f"{key}:{value}"]
        if fmt == "html":
            command += ["-M", "embed-resources:true"]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as expired:
            raise RenderError(
                source, f"rendering to {fmt} (over {timeout:g} s)", str(expired.stderr or "")
            ) from expired
        logs.append(done.stdout + done.stderr)
        if done.returncode != 0:
            raise RenderError(source, _failing_chunk(done.stderr), done.stderr)
        outputs[fmt] = out_dir / target
    return RenderedReport(outputs, "quarto", "\n".join(logs))


def _failing_chunk(log: str) -> str:
    for line in log.splitlines():
        lowered = line.lower()
        if "cell" in lowered and ("error" in lowered or "line" in lowered):
            return line.strip()
    return "a chunk"


def _render_builtin(source: Path, out_dir: Path, stem: str, params: Mapping[str, object],
                    formats: Sequence[Format], timeout: float,
                    kernel: WarmKernel | None = None) -> RenderedReport:  # fmt: skip
    import jupytext
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = jupytext.read(source)
    where = next(
        (i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])), -1
    )
    assignments = "\n".join(f"{key} = {value!r}" for key, value in params.items())
    notebook.cells.insert(where + 1, _code_cell(assignments, "injected"))
    if kernel is not None and kernel.cwd == source.parent:
        client = kernel.client_for(notebook, timeout)
    else:
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(source.parent)}})  # fmt: skip
    try:
        client.execute()  # type: ignore[attr-defined]
    except CellExecutionError as error:
        index = next((i for i, c in enumerate(notebook.cells)
                      if any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)  # fmt: skip
        first = notebook.cells[index].source.splitlines()[0] if index is not None else "?"
        raise RenderError(source, f"cell {index} ('{first}')", str(error)) from error
    finally:
        if kernel is not None and client.kc is not None:  # type: ignore[attr-defined]
            client.kc.stop_channels()  # the kernel lives on; this client's sockets do not
    title = _page_title(notebook, stem, params)
    outputs: dict[str, Path] = {}
    if "html" in formats:
        outputs["html"] = out_dir / f"{stem}.html"
        outputs["html"].write_text(_html(notebook, title), encoding="utf-8")
    if "pdf" in formats:
        outputs["pdf"] = out_dir / f"{stem}.pdf"
        _pdf(notebook, outputs["pdf"])
    return RenderedReport(outputs, "builtin")


def _page_title(notebook: object, stem: str, params: Mapping[str, object]) -> str:
    """The page's first level-1 heading: a markdown cell's, else one a cell printed (a
    report whose title comes from its programme); the site is added to a fixed heading."""
    for cell in notebook.cells:  # type: ignore[attr-defined]
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            title = cell.source.lstrip("# ").splitlines()[0]
            return f"{title} - {params['site_id']}" if params.get("site_id") else title
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            text = str(output.get("data", {}).get("text/markdown", ""))
            if text.startswith("# "):
                return text[2:].splitlines()[0].replace("\\", "")
    return stem


PAGE_CSS = """
body { font-family: system-ui, sans-serif; max-width: 56rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #1a1a1a; }
img { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: 1rem 0; font-size: .875rem; }
th, td { border: 1px solid #999; padding: .25rem .45rem; text-align: left; vertical-align: top; }
th { background: #eef3f8; }
.prompt, .input_prompt, .output_prompt { display: none; }
a.anchor-link { visibility: hidden; text-decoration: none; margin-left: .3rem; }
:is(h1, h2, h3, h4):hover a.anchor-link, a.anchor-link:focus { visibility: visible; }
"""
"""Tables in a smaller type than the text so the widest (intended versus actual, nine
columns) fits the page instead of running off its right edge; the heading links nbconvert
adds (a blue "¶" after every heading) show only on hover or keyboard focus."""


def _html(notebook: object, title: str) -> str:
    """One self-contained, screen-reader-friendly page: code hidden, images embedded."""
    exporter = _inert_html_exporter()
    body, _ = exporter.from_notebook_node(notebook)
    return (
        '<!DOCTYPE html>\n<html lang="en-GB">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html_lib.escape(title)}</title>\n<style>{PAGE_CSS}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _inert_html_exporter() -> object:
    """nbconvert's HTML exporter with its Markdown made inert: no bare-URL autolinks
    (mistune's ``url`` plugin turns ``https://...`` in any text into ``<a>``) and raw HTML
    escaped. Uploaded text is escaped before it gets here (:func:`reval.inert.inert`);
    this is the second wall."""
    from jinja2 import pass_context
    from nbconvert import HTMLExporter
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    class InertMarkdown(MarkdownWithMath):
        DEFAULT_PLUGINS = tuple(p for p in MarkdownWithMath.DEFAULT_PLUGINS if p != "url")

    class InertHTMLExporter(HTMLExporter):
        @pass_context  # same call as nbconvert's own filter, which this one replaces
        def markdown2html(self, context: object, source: str) -> str:
            renderer = IPythonRenderer(escape=True, allow_harmful_protocols=False,
                                       embed_images=self.embed_images)  # fmt: skip
            return InertMarkdown(renderer=renderer).render(source)

    return InertHTMLExporter(template_name="basic", exclude_input=True, embed_images=True)


PANDOC_MARKDOWN = "markdown" + "".join(f"-{extension}" for extension in (
    "implicit_figures", "citations", "tex_math_dollars", "tex_math_single_backslash",
    "tex_math_double_backslash", "superscript", "subscript", "raw_html", "raw_tex",
    "raw_attribute", "autolink_bare_uris", "inline_notes", "footnotes", "latex_macros",
    "native_divs", "native_spans", "bracketed_spans", "fenced_divs", "example_lists",
    "definition_lists", "line_blocks", "strikeout", "task_lists", "smart", "emoji",
    "implicit_header_references", "yaml_metadata_block", "pandoc_title_block",
    "markdown_in_html_blocks",
))  # fmt: skip
"""Pandoc's Markdown with every extension that turns text into markup (citations ``@x``,
maths ``$x$``, ``^sup^``/``~sub~``, raw Typst/HTML/TeX, notes, divs, spans, bare-URL
links) switched off: reval's reports use only headings, emphasis, lists, pipe tables and
images. Uploaded text is escaped before it gets here; this is the second wall."""

LITERAL_TEXT_FILTER = r"""
-- Every word of the document's body as a Typst string literal, so the PDF shows it exactly
-- as written: Typst markup would turn ' into a curly quote, -- and ... into dashes and
-- ellipses, -2 into a minus sign and -? into a soft hyphen. The ';' ends the literal before
-- whatever follows. Metadata (page settings) and image descriptions are left as they are.
local function literal(el)
  local escaped = el.text:gsub("\\", "\\\\"):gsub('"', '\\"')
  return pandoc.RawInline("typst", '#"' .. escaped .. '";')
end

function Pandoc(doc)
  doc.blocks = doc.blocks:walk({
    traverse = "topdown",
    Image = function(el) return el, false end,
    Str = literal,
  })
  return doc
end
"""

TYPST_HEADER = """
// no hyphenation: a word breaks only where it has a space, and the PDF's text (what
// copying, search and screen readers get) keeps every hyphen as the hyphen it is
#set text(hyphenate: false)
#show table: set text(size: 8pt)
#show heading: set block(above: 1.2em, below: 0.6em)
// pandoc wraps each table in a figure, which typst keeps on one page: a long table ran
// off the bottom and over the footer; breakable figures let it continue on the next page
#show figure: set block(breakable: true)
// justified cells spread a two-word site name across the column; tables read ragged-right
#show table: set par(justify: false)
"""


PANDOC_COLUMNS = 2000
"""Wider than any table line, so pandoc leaves column widths to typst (sized to content)
instead of fixing them from the Markdown's dash counts, which starved narrow columns and
let "matched comparison" or a site code run into the next column."""


def _pdf(notebook: object, target: Path) -> None:
    """Markdown of the executed notebook -> typst (pandoc) -> PDF (typst). Figures keep
    their alt text as the image description; captions stay the report's own lines."""
    import typst

    with tempfile.TemporaryDirectory(prefix="reval-pdf-") as scratch:
        folder = Path(scratch)
        (folder / "header.typ").write_text(TYPST_HEADER, encoding="utf-8")
        (folder / "literal.lua").write_text(LITERAL_TEXT_FILTER, encoding="utf-8")
        (folder / "page.yaml").write_text("margin:\n  x: 2cm\n  y: 2cm\n", encoding="utf-8")
        (folder / "report.md").write_text(_markdown(notebook, folder), encoding="utf-8")
        done = subprocess.run(
            [_pandoc(), "report.md", "--from", PANDOC_MARKDOWN, "--to", "typst",
             "--standalone", "-V", "papersize=a4", "-V", "fontsize=10pt",
             "--metadata-file", "page.yaml", "--include-in-header", "header.typ",
             "--lua-filter", "literal.lua", "--columns", str(PANDOC_COLUMNS)],
            cwd=folder, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RenderError(target, "converting to typst (pandoc)", done.stderr)
        source = done.stdout
        (folder / "report.typ").write_text(source, encoding="utf-8")
        try:
            typst.compile(str(folder / "report.typ"), output=str(target), root=str(folder))
        except Exception as error:  # typst raises its own TypstError (and others) from Rust
            raise RenderError(target, "typesetting the PDF (typst)", str(error)) from error


def _pandoc() -> str:
    """The pandoc shipped inside pypandoc-binary (3.x, which writes typst), never an older
    one that happens to be on PATH (pypandoc's own search may pick either)."""
    import pypandoc

    bundled = Path(pypandoc.__file__).parent / "files" / "pandoc"
    return str(bundled) if bundled.is_file() else pypandoc.get_pandoc_path()


def _markdown(notebook: object, folder: Path) -> str:
    """The report as Markdown: markdown cells as written, code cells by their displayed
    outputs (figures written beside it); code, streams and plain reprs left out."""
    parts: list[str] = []
    for i, cell in enumerate(notebook.cells):  # type: ignore[attr-defined]
        if cell.cell_type == "markdown":
            parts.append(cell.source)
            continue
        for j, output in enumerate(cell.get("outputs", [])):
            data = output.get("data", {})
            if "image/png" in data:
                name = f"figure-{i}-{j}.png"
                (folder / name).write_bytes(base64.b64decode(data["image/png"]))
                alt = output.get("metadata", {}).get("image/png", {}).get("alt", "")
                parts.append(f"![{inert(alt)}]({name}){{width=100%}}")
            elif "text/markdown" in data:
                parts.append(data["text/markdown"])
    return "\n\n".join(parts)
