"""First-page screenshots of rendered reports, for a person to look at before release.

HTML through headless Chromium (Debian's ``chromium``), PDF through ``pdftoppm``
(poppler-utils). Usage: ``python scripts/report_screenshots.py REPORTS_DIR OUT_DIR``
(e.g. ``.reval/reports/latest shots/``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1100,1600", "--hide-scrollbars",
]  # fmt: skip


def screenshot_html(page: Path, out: Path) -> Path:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is not installed (Debian: apt-get install chromium)")
    target = out / f"{page.stem}.html.png"
    with tempfile.TemporaryDirectory(prefix="reval-chromium-") as profile:
        subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                        f"--screenshot={target}", page.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)  # fmt: skip
    return target


def screenshot_pdf(document: Path, out: Path) -> Path:
    if shutil.which("pdftoppm") is None:
        raise SystemExit("pdftoppm is not installed (Debian: apt-get install poppler-utils)")
    prefix = out / f"{document.stem}.pdf"
    subprocess.run(["pdftoppm", "-f", "1", "-l", "1", "-r", "70", "-png", "-singlefile",
                    str(document), str(prefix)], check=True, timeout=120)  # fmt: skip
    return prefix.with_suffix(".pdf.png")


def main() -> None:
    reports, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for page in sorted(reports.glob("*.html")):
        print(screenshot_html(page, out))
    for document in sorted(reports.glob("*.pdf")):
        print(screenshot_pdf(document, out))


if __name__ == "__main__":
    main()
