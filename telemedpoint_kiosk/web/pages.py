"""HTML of the kiosk's screens: large touch targets, one clear next step per screen."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from zoneinfo import ZoneInfo

from telemedpoint_kiosk.protocols import ACVPU, PROTOCOLS, RHYTHMS, STEPS
from telemedpoint_kiosk.rules import RED_FLAG_SYMPTOMS, news2_of
from telemedpoint_kiosk.runtime import KioskStatus
from telemedpoint_kiosk.store import Alert, Consult, Measurement, PatientRecord, Visit
from telemedpoint_kiosk.visits import StepState
from telemedpoint_kiosk.web.i18n import message, t

LOCAL = ZoneInfo("Europe/Prague")


@dataclass(frozen=True)
class Frame:
    """What every screen shows around its content."""

    lang: str
    nurse: str | None
    status: KioskStatus
    point: str


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def page(f: Frame, title: str, body: str, *, error: str = "", printable: bool = False) -> str:
    other = "en" if f.lang == "cs" else "cs"
    bar = "" if printable else _status_bar(f, other)
    err = (
        f'<div class="error" role="alert" id="error"><b>{t(f.lang, "error")}:</b> {_e(error)}</div>'
        if error
        else ""
    )
    return f"""<!doctype html><html lang="{f.lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{_e(title)} · {t(f.lang, "title")}</title>
<link rel="stylesheet" href="/static/kiosk.css"><script src="/static/kiosk.js" defer></script></head>
<body class="{"print" if printable else ""}">{bar}<main><h1>{_e(title)}</h1>{err}{body}</main></body></html>"""


def _status_bar(f: Frame, other: str) -> str:
    s = f.status
    sync = local_time(s.last_sync_at) if s.last_sync_at else t(f.lang, "never")
    who = (
        f'<span>{_e(f.nurse)}</span><form method="post" action="/logout"><button class="small">{t(f.lang, "sign_out")}</button></form>'
        if f.nurse
        else ""
    )
    return f"""<header id="statusbar" class="{s.link_state}"><a class="home" href="/">{t(f.lang, "title")} · {_e(f.point)}</a>
<span id="link" class="pill {s.link_state}">{t(f.lang, s.link_state)}</span>
<span class="pill">{t(f.lang, "unsent")}: <b id="unsent">{s.unsent}</b></span>
<span class="pill">{t(f.lang, "last_sync")}: <b id="last-sync">{sync}</b></span>
<a class="lang" href="/lang/{other}">{other.upper()}</a>{who}</header>"""


def local_time(at: object) -> str:
    return at.astimezone(LOCAL).strftime("%d.%m. %H:%M:%S") if at is not None else ""  # type: ignore[attr-defined]


def login(f: Frame) -> str:
    body = f"""<form method="post" action="/login" class="card">
<label>{t(f.lang, "username")}<input name="username" autocomplete="username" required autofocus></label>
<label>{t(f.lang, "password")}<input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit" class="primary">{t(f.lang, "do_sign_in")}</button></form>"""
    return body


def home(f: Frame, open_visits: list[tuple[Visit, PatientRecord | None]]) -> str:
    rows = "".join(
        f'<li><a class="button" href="/visits/{_e(v.id)}">{t(f.lang, "resume")}: {_e(p.name if p else v.patient_id)} · {t(f.lang, v.protocol)} · {local_time(v.started_at)}</a></li>'
        for v, p in open_visits
    )
    visits = f'<h2>{t(f.lang, "open_visits")}</h2><ul class="plain">{rows}</ul>' if rows else ""
    return (
        _search_form(f, "")
        + f'<p><a class="button secondary" href="/patients/new">{t(f.lang, "register_new")}</a></p>'
        + visits
    )


def _search_form(f: Frame, query: str) -> str:
    return f"""<form method="get" action="/patients" class="card search"><label>{t(f.lang, "find_patient")}
<input name="q" value="{_e(query)}" placeholder="{t(f.lang, "search_hint")}" autofocus></label>
<button type="submit" class="primary">{t(f.lang, "search")}</button></form>"""


def search(f: Frame, query: str, found: list[PatientRecord]) -> str:
    items = "".join(
        f'<li><a class="button patient" href="/patients/{_e(p.id)}"><b>{_e(p.family_name)} {_e(p.given_name)}</b> · {_e(_date(p.birth_date))}'
        f"{' · ' + _e(_birth_number(p.national_id)) if p.national_id else ''}</a></li>"
        for p in found
    )
    results = f'<ul class="plain">{items}</ul>' if items else f"<p>{t(f.lang, 'no_results')}</p>"
    return (
        _search_form(f, query)
        + results
        + f'<p><a class="button secondary" href="/patients/new">{t(f.lang, "register_new")}</a></p>'
    )


def _birth_number(normalized: str | None) -> str:
    return f"{normalized[:6]}/{normalized[6:]}" if normalized else "–"


def _date(iso: str | None) -> str:
    if not iso:
        return ""
    y, m, d = iso.split("-")
    return f"{int(d)}.{int(m)}.{y}"


def register(f: Frame, form: dict[str, str]) -> str:
    def field(name: str, kind: str = "text", required: bool = False, extra: str = "") -> str:
        req = " required" if required else ""
        return f'<label>{t(f.lang, name)}<input name="{name}" type="{kind}" value="{_e(form.get(name, ""))}"{req}{extra}></label>'

    sexes = "".join(
        f'<label class="choice"><input type="radio" name="sex" value="{s}"{" checked" if form.get("sex", "unknown") == s else ""}>{t(f.lang, s)}</label>'
        for s in ("female", "male", "unknown")
    )

    def box(name: str) -> str:
        checked = " checked" if form.get(name) == "yes" else ""
        return f'<label class="choice big"><input type="checkbox" name="{name}" value="yes"{checked}>{t(f.lang, name)}</label>'

    return f"""<form method="post" action="/patients/new" class="card grid">
{field("family_name", required=True)}{field("given_name", required=True)}
{field("birth_date", "date", True)}{field("national_id", extra=' inputmode="numeric" placeholder="RRMMDD/XXXX"')}
<fieldset><legend>{t(f.lang, "sex")}</legend>{sexes}</fieldset>
{field("insurer")}{field("phone", "tel")}{field("treating_doctor")}
<p class="prompt"><b>{t(f.lang, "id_title")}:</b> {t(f.lang, "id_prompt")}</p>{box("id_checked")}{box("consent")}
<button type="submit" class="primary">{t(f.lang, "register")}</button></form>"""


def patient(f: Frame, p: PatientRecord) -> str:
    protocols = "".join(
        f'<label class="choice big"><input type="radio" name="protocol" value="{name}"{" checked" if name == "heart_failure" else ""}>{t(f.lang, name)}'
        f"<small>{', '.join(t(f.lang, s) for s in steps)}</small></label>"
        for name, steps in PROTOCOLS.items()
    )
    symptoms = "".join(
        f'<label class="choice"><input type="checkbox" name="symptoms" value="{s}">{t(f.lang, s)}</label>'
        for s in RED_FLAG_SYMPTOMS
    )
    pending = (
        f' <span class="pill">{t(f.lang, "registered_offline")}</span>'
        if p.source == "kiosk"
        else ""
    )
    return f"""<section class="card patient-card"><h2>{_e(p.name)}{pending}</h2>
<p>{t(f.lang, "birth_date")}: {_e(_date(p.birth_date))} · {t(f.lang, "national_id")}: {_e(_birth_number(p.national_id))}
· {t(f.lang, "treating_doctor")}: {_e(p.treating_doctor or "–")}</p></section>
<form method="post" action="/visits" class="card"><input type="hidden" name="patient_id" value="{_e(p.id)}">
<fieldset><legend>{t(f.lang, "protocol")}</legend>{protocols}</fieldset>
<fieldset><legend>{t(f.lang, "symptoms")}</legend>{symptoms}</fieldset>
<button type="submit" class="primary" id="start-visit">{t(f.lang, "start_visit")}</button></form>"""


def _values(f: Frame, step: str, m: Measurement) -> str:
    v = m.values
    if not m.usable:
        return f'<span class="bad">{_e(_problem_text(f, m))}</span>'
    if step == "bp":
        text = f"{v['bp_systolic']:.0f}/{v['bp_diastolic']:.0f} mmHg"
        return text + (
            f", {t(f.lang, 'pulse')} {v['pulse_rate']:.0f}/min" if "pulse_rate" in v else ""
        )
    if step == "spo2":
        return f"{v['spo2']:.0f} %" + (
            f", {t(f.lang, 'pulse')} {v['pulse_rate']:.0f}/min" if "pulse_rate" in v else ""
        )
    if step == "ecg":
        return f"{t(f.lang, 'rhythm_' + RHYTHMS[int(v['rhythm'])])} ({v['duration_s']:.0f} s)"
    if step == "consciousness":
        return ACVPU[int(v["consciousness"])]
    spec = STEPS[step].fields[0]
    return f"{v[spec.name]:.{spec.decimals}f} {spec.unit.replace('Cel', '°C')}"


def _problem_text(f: Frame, m: Measurement) -> str:
    if m.note.startswith("impossible:"):
        return t(f.lang, "impossible_device") + " (" + m.note.removeprefix("impossible:") + ")"
    if m.note == "noisy":
        return t(f.lang, "noisy")
    return t(f.lang, "problem_" + m.note.split(":")[0])


def _table(f: Frame, step: str, ms: list[Measurement]) -> str:
    rows = "".join(
        f'<tr class="{"abnormal" if m.abnormal else ""}"><td>{local_time(m.measured_at)}</td><td class="value">{_values(f, step, m)}</td>'
        f"<td>{t(f.lang, 'manual_flag') if m.source == 'manual' else t(f.lang, 'device')}</td></tr>"
        for m in ms
    )
    return (
        f'<table class="results" data-step="{step}"><tbody>{rows}</tbody></table>' if rows else ""
    )


def alerts_block(f: Frame, visit: Visit, alerts: list[Alert], *, actions: bool = True) -> str:
    out = []
    for a in alerts:
        done = (
            f'<p class="ack">{t(f.lang, "acknowledged_at")}: {local_time(a.acknowledged_at)} – {_e(a.action)}</p>'
            if a.acknowledged_at
            else ""
        )
        buttons = ""
        if actions and not a.acknowledged_at:
            first = "called_155" if a.level == "critical" else "acknowledged"
            buttons = (
                f'<form method="post" action="/visits/{_e(visit.id)}/alerts/{_e(a.rule)}/ack">'
                f'<button name="action" value="{t(f.lang, first)}" class="primary">{t(f.lang, first)}</button></form>'
            )
        out.append(
            f'<div class="alert {a.level}" role="alert" data-rule="{_e(a.rule)}"><p>{_e(message(f.lang, a.message))}</p>{done}{buttons}</div>'
        )
    return "".join(out)


def visit_page(
    f: Frame,
    visit: Visit,
    p: PatientRecord,
    states: list[StepState],
    alerts: list[Alert],
    *,
    problem: str = "",
    ecg_progress: float | None = None,
    typed: dict[str, str] | None = None,
) -> str:
    """The visit's screen; ``typed`` holds refused manual values, shown again for correction."""
    chips = "".join(
        f'<li class="{s.status}{" current" if s is _current(states) else ""}">{t(f.lang, s.step.name)}</li>'
        for s in states
    )
    head = f'<p class="who">{t(f.lang, "patient")}: <b>{_e(p.name)}</b> · {_e(_date(p.birth_date))} · {t(f.lang, visit.protocol)}</p><ol class="steps">{chips}</ol>'
    current = _current(states)
    body = alerts_block(f, visit, alerts)
    if problem:
        body += f'<div class="error" role="alert" id="device-problem">{_e(problem)}</div>'
    if current is None:
        body += f'<section class="card"><p>{t(f.lang, "all_done")}</p><a class="button primary" id="to-summary" href="/visits/{_e(visit.id)}/summary">{t(f.lang, "to_summary")}</a></section>'
    else:
        body += _step_card(f, visit, current, ecg_progress, typed)
    body += news2_box(f, [m for s in states for m in s.measurements])
    done = "".join(
        f"<tr><th>{t(f.lang, s.step.name)}</th><td>{_overview_cell(f, s)}</td></tr>"
        for s in states
        if s.measurements or s.status == "skipped"
    )
    if done:
        body += f'<h2>{t(f.lang, "results")}</h2><table class="overview">{done}</table>'
    return head + body


def _overview_cell(f: Frame, s: StepState) -> str:
    if s.status == "skipped" and not s.measurements:
        return t(f.lang, "skipped")
    return _table(f, s.step.name, s.measurements)


def _current(states: list[StepState]) -> StepState | None:
    return next((s for s in states if s.status in ("todo", "confirm")), None)


def _step_card(
    f: Frame, visit: Visit, s: StepState, ecg_progress: float | None, typed: dict[str, str] | None
) -> str:
    step, vid = s.step, _e(visit.id)
    usable = len([m for m in s.measurements if m.usable])
    count = (
        f" ({usable + 1}. {t(f.lang, 'of')} {step.repeats})"
        if step.repeats > 1 and usable < step.repeats
        else ""
    )
    device = t(f.lang, f"device_{step.device or 'none'}")
    confirm = (
        f'<p class="confirm" id="confirm">{t(f.lang, "repeat_confirm")}</p>'
        if s.status == "confirm"
        else ""
    )
    if step.name == "ecg":
        if ecg_progress is not None:
            action = f'<div id="ecg-progress" data-visit="{vid}"><p>{t(f.lang, "recording")}…</p><progress max="1" value="{ecg_progress:.2f}"></progress></div>'
        else:
            action = f'<form method="post" action="/visits/{vid}/ecg" class="measure"><button class="primary huge" id="measure">{t(f.lang, "record_ecg")}</button></form>'
    elif step.device:
        action = (
            f'<form method="post" action="/visits/{vid}/steps/{step.name}/measure" class="measure" data-busy="{t(f.lang, "measuring")}">'
            f'<button class="primary huge" id="measure">{t(f.lang, "measure")}</button></form>'
        )
    else:
        action = ""
    manual = _manual_form(f, vid, s, typed) if step.fields else ""
    skip = (
        f'<details><summary>{t(f.lang, "skip")}</summary><form method="post" action="/visits/{vid}/steps/{step.name}/skip">'
        f'<label>{t(f.lang, "skip_reason")}<input name="reason" required></label><button class="secondary">{t(f.lang, "skip")}</button></form></details>'
    )
    return f"""<section class="card step" id="step" data-step="{step.name}" data-status="{s.status}">
<h2>{t(f.lang, step.name)}{count}</h2><p class="device">{t(f.lang, "use_device")}: {device}</p><p class="instruction">{t(f.lang, "do_" + step.name)}</p>
{confirm}{_table(f, step.name, s.measurements)}{action}{manual}{skip}</section>"""


def _manual_form(f: Frame, vid: str, s: StepState, typed: dict[str, str] | None) -> str:
    inputs = []
    for spec in s.step.fields:
        if spec.name == "consciousness":
            options = "".join(
                f'<option value="{i}">{letter}</option>' for i, letter in enumerate(ACVPU)
            )
            inputs.append(
                f'<label>{t(f.lang, "consciousness")}<select name="consciousness">{options}</select></label>'
            )
            continue
        inputs.append(
            f"<label>{t(f.lang, spec.name)} ({spec.unit.replace('Cel', '°C').replace('mm[Hg]', 'mmHg')})"
            f'<input name="{spec.name}" inputmode="decimal" value="{_e((typed or {}).get(spec.name, ""))}"></label>'
        )
    opened = " open" if s.step.device is None or typed else ""
    summary = t(f.lang, "manual") if s.step.device else t(f.lang, "save")
    return (
        f'<details class="manual"{opened}><summary>{summary}</summary><form method="post" action="/visits/{vid}/steps/{s.step.name}/manual" class="grid">'
        f'{"".join(inputs)}<button class="primary" id="save-manual">{t(f.lang, "save")}</button></form></details>'
    )


def news2_box(f: Frame, measurements: list[Measurement]) -> str:
    result = news2_of(measurements)
    if result is None:
        return ""
    return f'<section class="card news2 {result.risk.value}" id="news2"><h2>{t(f.lang, "news2")}: {result.total}</h2><p>{t(f.lang, "news2_" + result.risk.value)}</p></section>'


def summary(
    f: Frame,
    visit: Visit,
    p: PatientRecord,
    states: list[StepState],
    alerts: list[Alert],
    consults: list[Consult],
) -> str:
    rows = "".join(
        f"<tr><th>{t(f.lang, s.step.name)}</th><td>{_summary_value(f, s)}</td></tr>" for s in states
    )
    news = news2_box(f, [m for s in states for m in s.measurements])
    sent = "".join(
        f'<p class="pill">{t(f.lang, "consult_sent")}: {t(f.lang, "to_" + c.addressee)} – {_e(c.reason)}</p>'
        for c in consults
    )
    vid = _e(visit.id)
    actions = f"""<div class="actions noprint"><button class="secondary" onclick="window.print()">{t(f.lang, "print")}</button>
<a class="button secondary" href="/visits/{vid}/consult" id="consult">{t(f.lang, "consult")}</a>
<form method="post" action="/visits/{vid}/finish"><button class="primary" id="finish">{t(f.lang, "finish")}</button></form></div>"""
    if visit.ended_at:
        actions = (
            f'<p class="pill done" id="finished">{t(f.lang, "finished")} {local_time(visit.ended_at)}</p><div class="actions noprint">'
            f'<button class="secondary" onclick="window.print()">{t(f.lang, "print")}</button>'
            f'<a class="button secondary" href="/visits/{vid}/consult" id="consult">{t(f.lang, "consult")}</a>'
            f'<a class="button primary" href="/">{t(f.lang, "new_visit")}</a></div>'
        )
    return f"""<section class="card sheet" id="summary"><p>{t(f.lang, "patient")}: <b>{_e(p.name)}</b>, {t(f.lang, "birth_date")} {_e(_date(p.birth_date))}</p>
<p>{t(f.lang, "visit_date")}: {visit.started_at.astimezone(LOCAL):%d.%m.%Y %H:%M} · {t(f.lang, "nurse")}: {_e(visit.nurse)} · {_e(f.point)}</p>
<table class="overview">{rows}</table>{news}{alerts_block(f, visit, alerts, actions=False)}<p>{t(f.lang, "summary_note")}</p></section>{sent}{actions}"""


def _summary_value(f: Frame, s: StepState) -> str:
    if s.status == "skipped":
        return t(f.lang, "skipped")
    counted = s.counted
    if counted is None:
        return "–"
    bps = [m for m in s.measurements if m.usable] if s.step.name == "bp" else [counted]
    text = "; ".join(_values(f, s.step.name, m) for m in bps)
    return text + (
        f" ({t(f.lang, 'manual_note')})" if any(m.source == "manual" for m in bps) else ""
    )


def consult(f: Frame, visit: Visit, form: dict[str, str]) -> str:
    choices = "".join(
        f'<label class="choice big"><input type="radio" name="addressee" value="{a}"{" checked" if form.get("addressee", "treating_doctor") == a else ""}>{t(f.lang, "to_" + a)}</label>'
        for a in ("treating_doctor", "centre")
    )
    return f"""<form method="post" action="/visits/{_e(visit.id)}/consult" class="card">
<fieldset><legend>{t(f.lang, "addressee")}</legend>{choices}</fieldset>
<label>{t(f.lang, "reason")}<textarea name="reason" rows="3" required>{_e(form.get("reason", ""))}</textarea></label>
<label>{t(f.lang, "video_url")}<input name="video_url" type="url" value="{_e(form.get("video_url", ""))}"></label>
<button class="primary" id="send-consult">{t(f.lang, "send")}</button> <a class="button secondary" href="/visits/{_e(visit.id)}/summary">{t(f.lang, "back")}</a></form>"""
