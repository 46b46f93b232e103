"""The period report as PDF, drawn with ReportLab (platypus for the layout, its graphics
package for the trend charts). Pure presentation: it takes the figures, it queries nothing."""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import StyleSheet1, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from clinician_api.i18n import catalogue
from telemed_signal.trends import HomeBpSummary

#: DejaVu Sans (shipped in ``fonts/``, Bitstream Vera licence): the PDF base fonts have no
#: glyphs for much of Czech (ř, ě, č, ť, ů), which came out as wrong characters in names.
FONTS = Path(__file__).resolve().parent / "fonts"
SANS, SANS_BOLD, SANS_ITALIC = "DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique"
for _name in (SANS, SANS_BOLD, SANS_ITALIC):
    if _name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(_name, str(FONTS / f"{_name}.ttf")))
pdfmetrics.registerFontFamily(SANS, normal=SANS, bold=SANS_BOLD, italic=SANS_ITALIC,
                              boldItalic=SANS_BOLD)  # fmt: skip


def _styles() -> StyleSheet1:
    """ReportLab's sample styles, set in DejaVu Sans."""
    styles = getSampleStyleSheet()
    for style in styles.byName.values():
        font = getattr(style, "fontName", "")
        if font:
            bold, italic = "Bold" in font, "Italic" in font or "Oblique" in font
            style.fontName = SANS_BOLD if bold else SANS_ITALIC if italic else SANS
    return styles


LABELS = {
    "heart_rate": ("Heart rate", "/min"), "spo2": ("SpO2", "%"),
    "pulse_rate": ("Pulse rate", "/min"), "bp_systolic": ("Systolic BP", "mmHg"),
    "bp_diastolic": ("Diastolic BP", "mmHg"), "body_weight": ("Weight", "kg"),
    "body_temperature": ("Temperature", "°C"), "respiratory_rate": ("Respiratory rate", "/min"),
    "glucose": ("Glucose", "mmol/L"), "battery_level": ("Device battery", "%"),
}  # fmt: skip


@dataclass
class ReportData:
    """Everything the report shows, gathered by the endpoint."""

    patient_name: str
    patient_id: str
    programme: str
    since: date
    until: date
    zone: ZoneInfo
    author: str
    generated_at: datetime
    stats: list[tuple[str, int, float, float, float]]
    home_bp: HomeBpSummary
    #: kind -> [(epoch s, daily mean)]
    daily: dict[str, list[tuple[float, float]]]
    findings: list[tuple[datetime, str, str, str]]  # start, kind, severity, explanation
    contacts: list[tuple[datetime, str, str, str]]  # at, channel, outcome, text
    adherence: tuple[int, int]
    notes: list[str] = field(default_factory=list)
    #: opened at, title, priority, state, accepted by, outcome
    episodes: list[tuple[datetime, str, str, str, str, str]] = field(default_factory=list)
    #: sent at, subject, channels with their status
    reminders: list[tuple[datetime, str, str]] = field(default_factory=list)
    #: The reader's language (``cs`` or ``en``): the clinician who asked for the report.
    language: str = "en"


def _table(rows: list[list[Any]], widths: list[float]) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), SANS),
                ("FONTNAME", (0, 0), (-1, 0), SANS_BOLD),
                ("FONTSIZE", (0, 0), (-1, -1), 8.5),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#b8c4d0")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _chart(
    t: Callable[[str], str], title: str, unit: str, series: list[list[tuple[float, float]]]
) -> Drawing:
    drawing = Drawing(170 * mm, 45 * mm)
    plot = LinePlot()
    plot.x, plot.y, plot.width, plot.height = 14 * mm, 8 * mm, 150 * mm, 30 * mm
    plot.data = [[(t / 86400.0, v) for t, v in s] for s in series]
    for i, color in enumerate((colors.HexColor("#1f6feb"), colors.HexColor("#d1242f"))):
        if i < len(series):
            plot.lines[i].strokeColor = color
            plot.lines[i].strokeWidth = 1.2
    plot.xValueAxis.labelTextFormat = lambda d: date.fromordinal(
        date(1970, 1, 1).toordinal() + int(d)
    ).strftime("%d.%m.")
    plot.xValueAxis.labels.fontSize = plot.yValueAxis.labels.fontSize = 7
    drawing.add(plot)
    plot.xValueAxis.labels.fontName = plot.yValueAxis.labels.fontName = SANS
    drawing.add(
        String(
            14 * mm,
            41 * mm,
            t("{title} ({unit}), daily means").format(title=title, unit=unit),
            fontSize=9,
            fontName=SANS,
        )
    )
    return drawing


def _translator(language: str) -> Callable[[str], str]:
    """msgid (the English text) -> the reader's language, from the screens' catalogue."""
    messages = catalogue(language)
    return lambda text: messages.get(text, text)


def _named(t: Callable[[str], str], value: str) -> str:
    """An enum value (``medication_change``) as its catalogue name (``Medication change``)."""
    text = value.replace("_", " ")
    return t(text[:1].upper() + text[1:]) if text else text


def _home_bp_rows(s: HomeBpSummary, t: Callable[[str], str]) -> list[list[str]]:
    rows = [[t("Home BP (ESH, 7 days)"), t("SBP/DBP mmHg"), t("readings")]]
    for name, m in (("Morning", s.morning), ("Evening", s.evening), ("All", s.overall)):
        rows.append(
            [t(name), f"{m.sbp_mmhg:.0f}/{m.dbp_mmhg:.0f}" if m else "–", str(m.n) if m else "0"]
        )
    return rows


def render(data: ReportData) -> bytes:
    """The report as PDF bytes (A4)."""
    styles = _styles()
    t = _translator(data.language)
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out, pagesize=A4, title=f"Report {data.patient_id}", author=data.author,
        leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm, bottomMargin=16 * mm,
    )  # fmt: skip
    local = data.generated_at.astimezone(data.zone).strftime("%d.%m.%Y %H:%M")
    story: list[object] = [
        Paragraph(t("Remote monitoring report"), styles["Title"]),
        Paragraph(
            f"<b>{html.escape(data.patient_name)}</b> ({html.escape(data.patient_id)}) · {_named(t, data.programme)}"
            f" · {data.since:%d.%m.%Y} – {data.until:%d.%m.%Y}",
            styles["Normal"],
        ),
        Paragraph(
            t("Generated {when} ({zone}) by {author}").format(
                when=local, zone=data.zone.key, author=html.escape(data.author)
            ),
            styles["Italic"],
        ),
        Spacer(1, 4 * mm),
        Paragraph(t("Averages"), styles["Heading2"]),
    ]
    rows = [[t("Measurement"), "n", t("mean"), "min", "max"]]
    for kind, n, mean, lo, hi in data.stats:
        name, unit = LABELS.get(kind, (kind, ""))
        rows.append([f"{t(name)} ({unit})", str(n), f"{mean:.1f}", f"{lo:.1f}", f"{hi:.1f}"])
    story += [_table(rows, [60 * mm, 20 * mm, 25 * mm, 25 * mm, 25 * mm]), Spacer(1, 3 * mm)]
    story += [_table(_home_bp_rows(data.home_bp, t), [60 * mm, 40 * mm, 25 * mm])]
    done, scheduled = data.adherence
    share = f"{100 * done / scheduled:.0f} %" if scheduled else t("no schedule")
    story.append(
        Paragraph(
            t("Adherence: {done} of {scheduled} scheduled measurements ({share}).").format(
                done=done, scheduled=scheduled, share=share
            ),
            styles["Normal"],
        )
    )
    story.append(Paragraph(t("Trends"), styles["Heading2"]))
    for title, kinds in (
        ("Blood pressure", ["bp_systolic", "bp_diastolic"]),
        ("Heart rate", ["heart_rate"]),
        ("SpO2", ["spo2"]),
        ("Weight", ["body_weight"]),
    ):
        series = [data.daily[k] for k in kinds if len(data.daily.get(k, [])) >= 2]
        if series:
            story.append(_chart(t, t(title), LABELS[kinds[0]][1], series))
    story += _episodes(data, styles, t)
    rows = _timed_rows(data.findings, data.zone, t, styles)
    story += _section(
        styles, t("Findings"), [t("Start"), t("Finding"), t("Priority"), t("Why")], rows,
        [24 * mm, 40 * mm, 18 * mm, 92 * mm], t("None in this period."),
    )  # fmt: skip
    rows = _timed_rows(data.contacts, data.zone, t, styles)
    story += _section(
        styles, t("Contacts and outcomes"), [t("When"), t("Channel"), t("Outcome"), t("Note")],
        rows, [24 * mm, 20 * mm, 30 * mm, 100 * mm], t("No contacts in this period."),
    )  # fmt: skip
    story += _reminders(data, styles, t)
    doc.build(story)
    return out.getvalue()


def _local(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%d.%m. %H:%M")


def _timed_rows(
    items: Sequence[tuple[datetime, str, str, str]], zone: ZoneInfo, t: Any, styles: StyleSheet1
) -> list[list[Any]]:
    """Table rows of (when, two named values, free text): a finding's start, kind, priority and
    why; a contact's time, channel, outcome and note."""
    return [
        [
            _local(at, zone),
            _named(t, a),
            _named(t, b),
            Paragraph(html.escape(text), styles["BodyText"]),
        ]
        for at, a, b, text in items
    ]


def _section(
    styles: Any, title: str, header: list[str], rows: list[list[Any]], widths: list[float],
    empty: str,
) -> list[object]:  # fmt: skip
    """A heading, then the table, or ``empty`` when there are no rows."""
    body = _table([header, *rows], widths) if rows else Paragraph(empty, styles["Normal"])
    return [Paragraph(title, styles["Heading2"]), body]


def _episodes(data: ReportData, styles: Any, t: Callable[[str], str]) -> list[object]:
    rows = [
        [_local(opened, data.zone), Paragraph(html.escape(t(title)), styles["BodyText"]),
         _named(t, priority), _named(t, state), accepted_by or "–", _named(t, outcome) or "–"]
        for opened, title, priority, state, accepted_by, outcome in data.episodes
    ]  # fmt: skip
    header = [t("Opened"), t("Alert"), t("Priority"), t("State"), t("Accepted by"), t("Outcome")]
    return _section(
        styles, t("Alerts and their outcomes"), header, rows,
        [24 * mm, 52 * mm, 18 * mm, 22 * mm, 26 * mm, 32 * mm], t("No alerts in this period."),
    )  # fmt: skip


def _reminders(data: ReportData, styles: Any, t: Callable[[str], str]) -> list[object]:
    rows = [
        [_local(at, data.zone), t(subject), channels] for at, subject, channels in data.reminders
    ]
    return _section(
        styles, t("Reminders sent to the patient: {n}").format(n=len(data.reminders)),
        [t("Sent"), t("Reminder"), t("Channels")], rows, [24 * mm, 50 * mm, 100 * mm],
        t("No reminders were sent in this period."),
    )  # fmt: skip
