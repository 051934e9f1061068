"""The report printed on A4 (issue 12, item 8): headless Chromium with print media emulated at
A4's printable width; no table may be wider than the page, and no cell's text may spill out
of its cell (long shard names, rule expressions and failure reasons wrap)."""

from __future__ import annotations

from pathlib import Path

import pytest

from childguard.report import build_report
from report.helpers import scan, write_sources

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="/usr/bin/chromium absent (install it with .ci/browsers.sh)"
    ),
]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
# A4 is 210 mm wide; the report's @page leaves 12 mm each side: 186 mm at 96 px per inch
A4_PRINT_WIDTH_PX = round((210 - 2 * 12) / 25.4 * 96)

_OVERFLOWS = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const t of document.querySelectorAll("table")) {
    const r = t.getBoundingClientRect();
    if (r.right > width + 0.5 || t.scrollWidth > t.clientWidth + 1)
      out.push(`table ${t.previousElementSibling?.textContent?.slice(0, 40)}: ${r.right} > ${width}`);
    for (const c of t.querySelectorAll("th, td"))
      if (c.scrollWidth > c.clientWidth + 1) out.push(`cell ${c.textContent.slice(0, 40)}`);
  }
  if (document.documentElement.scrollWidth > width + 1) out.push("page scrolls sideways");
  return out;
}"""


def test_tables_fit_an_a4_page_when_printed(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    src = tmp_path / "src"
    write_sources(src)
    # an unbreakable 120-character shard name: the shard table must wrap it
    (src / "part-a.parquet").rename(src / ("part-a-" + "x" * 110 + ".parquet"))
    scan(src, tmp_path / "audit")
    res = build_report(tmp_path / "audit", tmp_path / "report.html", examples=5)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": A4_PRINT_WIDTH_PX, "height": 1123})
        page.goto(res.html.resolve().as_uri())
        assert page.evaluate("document.querySelectorAll('table').length") >= 5
        page.emulate_media(media="screen")
        on_screen = page.evaluate(_OVERFLOWS)
        page.emulate_media(media="print")
        printed = page.evaluate(_OVERFLOWS)
        pdf = page.pdf(format="A4")
        browser.close()
    assert on_screen, "the test data should overflow without the print stylesheet"
    assert printed == [], printed
    assert pdf.startswith(b"%PDF")
