"""The periodic report as a PDF, made on the server by WeasyPrint from the same template as the page.

A4, the administrative form's margins (Decree 30/2020/NĐ-CP: top and bottom 2 cm, left 3 cm, right
1.5 cm), page numbers at the top centre from the second page on, Be Vietnam Pro from its font package
(full Vietnamese coverage, embedded and subset), headings kept with what follows them.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from signage_server.reports import calendar, charts, exports, formatting
from signage_server.reports.exports import Bundle

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
FAMILY = "Be Vietnam Pro"


def chart_set(b: Bundle) -> dict[str, Markup]:
    """The report's charts as inline SVG; the page and the PDF show the same ones."""
    out = {
        "language": charts.bar_chart([(exports.LANGUAGE_NAMES.get(a.label, a.label), a.seconds)
                                      for a in b.airtime.by_language],
                                     title="Thời lượng phát theo ngôn ngữ", unit="", text=formatting.hours),
        "site": charts.bar_chart([(a.label, a.seconds) for a in b.airtime.by_site],
                                 title="Thời lượng phát theo cửa khẩu", unit="", text=formatting.hours),
    }
    if b.by_day:
        out["days"] = charts.line_chart(b.by_day, title="Tỷ lệ hoạt động theo ngày (%)")
    return out


def context(b: Bundle, *, today: date) -> dict[str, Any]:
    """What _official_report.html needs, for the page and the PDF alike."""
    return {"b": b, "f": formatting, "charts": chart_set(b), "today": today,
            "language_names": exports.LANGUAGE_NAMES, "outage_kinds": exports.OUTAGE_KINDS,
            "not_counted_kinds": exports.NOT_COUNTED, "narrative_titles": exports.NARRATIVE, "plan": exports.PLAN,
            "kind_words": calendar.kind_words(b.kind, b.year, b.period),
            "period_words": calendar.period_words(b.period)}


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True)


def _font_faces() -> str:
    """@font-face rules pointing at the font package's files: nothing is fetched, nothing depends on fc-list."""
    import fontpkg

    rules = []
    for weight, style in ((400, "normal"), (700, "normal"), (400, "italic"), (700, "italic")):
        path = Path(fontpkg.path(FAMILY, weight, style=style, nearest=True))
        rules.append(f'@font-face {{ font-family: "{FAMILY}"; font-weight: {weight}; font-style: {style}; '
                     f'src: url("{path.as_uri()}"); }}')
    return "\n".join(rules)


PRINT_CSS = """
@page { size: A4; margin: 2cm 1.5cm 2cm 3cm;
        @top-center { content: counter(page); font-family: "Be Vietnam Pro"; font-size: 10pt; } }
@page :first { @top-center { content: none; } }
html { font-family: "Be Vietnam Pro", sans-serif; font-size: 10.5pt; line-height: 1.35; color: #000; }
p { margin: 0.15em 0; text-align: justify; hyphens: manual; }
.upper { text-transform: uppercase; }
.strong { font-weight: bold; }
.nowrap { white-space: nowrap; }
.underline { text-decoration: underline; text-underline-offset: 3pt; }
table.letterhead { width: 100%; border-collapse: collapse; margin-bottom: 1.2em; }
table.letterhead td { vertical-align: top; text-align: center; padding: 0; }
table.letterhead td p { text-align: center; }
table.letterhead td.issuer { width: 44%; font-size: 10pt; }
table.letterhead td.motto { width: 56%; font-size: 10pt; }
.date { margin-top: 0.6em; }
.title-block { text-align: center; margin: 0.8em 0 1em; break-after: avoid; }
.title-block p { text-align: center; }
h1.report-title { font-size: 14pt; margin: 0; }
.report-subtitle { font-size: 11.5pt; }
.recipient { margin-top: 0.6em; }
h2 { font-size: 11.5pt; margin: 1em 0 0.3em; break-after: avoid; }
h3 { font-size: 11pt; margin: 0.8em 0 0.3em; break-after: avoid; }
h4 { font-size: 10.5pt; font-style: italic; margin: 0.6em 0 0.2em; break-after: avoid; }
h4.sub { font-weight: normal; margin-left: 0.5cm; }
.lead { text-indent: 1cm; }
.before-table { break-after: avoid; }
table.content td:first-child, table.availability td:nth-child(3) { white-space: nowrap; }
.para { text-indent: 1cm; }
.blank { border-bottom: 0.5pt dotted #000; height: 1.3em; margin: 0.2em 0; }
table.list { width: 100%; border-collapse: collapse; margin: 0.2em 0 0.5em; font-size: 9.5pt; }
table.list th, table.list td { border: 0.5pt solid #000; padding: 1.5pt 4pt; vertical-align: top; }
table.list th { background: #eee; text-align: left; font-weight: bold; }
table.list th.num { text-align: right; }
table.list thead { display: table-header-group; }
table.list tr { break-inside: avoid; }
table.short { break-inside: avoid; }
table.list td.num { text-align: right; white-space: nowrap; }
table.list .tt { width: 1.6em; text-align: center; }
table.summary th { width: 70%; font-weight: normal; background: none; }
table.summary td { text-align: right; font-weight: bold; }
.charts { break-inside: avoid; break-before: avoid; }
.charts svg { width: 100%; height: auto; display: block; margin: 0.3em 0; }
svg text { font-family: "Be Vietnam Pro"; }
.note { font-size: 9pt; font-style: italic; }
.issued { font-weight: bold; }
table.signature-block { width: 100%; margin-top: 1.5em; break-inside: avoid; border-collapse: collapse; }
.closing { break-inside: avoid; }
table.signature-block td { vertical-align: top; padding: 0; }
table.signature-block td.recipients { width: 45%; font-size: 9.5pt; }
table.signature-block td.signer { width: 55%; text-align: center; height: 3.5cm; }
table.signature-block td.signer p { text-align: center; }
.noprint-pdf { font-size: 9pt; }
"""


@cache
def _weasyprint() -> tuple[Any, Any, Any]:
    """Import WeasyPrint without its side effect on Pillow.

    Importing weasyprint sets PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True for the whole process, which would
    let a truncated upload pass the assets' image check after the first PDF. Our PDFs embed no raster
    images (charts are SVG), so the flag is put back as it was.
    """
    from PIL import ImageFile

    before = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        from weasyprint import CSS, HTML  # type: ignore[import-untyped]
        from weasyprint.text.fonts import FontConfiguration  # type: ignore[import-untyped]
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before
    return CSS, HTML, FontConfiguration


def render_html(b: Bundle, *, today: date) -> str:
    return _environment().get_template("reports_pdf.html").render(**context(b, today=today))


def to_pdf(b: Bundle, *, today: date) -> bytes:
    """The report as PDF bytes (WeasyPrint, fonts embedded)."""
    CSS, HTML, FontConfiguration = _weasyprint()

    fonts = FontConfiguration()  # @font-face rules only load through one
    stylesheet = CSS(string=_font_faces() + PRINT_CSS, font_config=fonts)
    pdf = HTML(string=render_html(b, today=today), base_url=str(TEMPLATES_DIR)).write_pdf(
        stylesheets=[stylesheet], font_config=fonts)
    assert pdf is not None  # noqa: S101 - write_pdf without a target returns the bytes
    return bytes(pdf)
