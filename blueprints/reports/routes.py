"""Reports: per-trigger daily trends with drill-down and CSV, and the overview."""
import csv
import io
from datetime import date

from flask import Response, abort, request, stream_with_context
from sqlalchemy import select
from sqlalchemy.orm import Bundle

from blueprints.reports import panels  # noqa: F401  (registers the accounts tab and section)
from blueprints.ui import page_args, paginate, render_page
from engine import reports
from engine.reports.fold import fold_for_reading
from engine.reports.csv_cells import safe_row
from extensions import db
from models import Trigger
from models.base import utcnow
from blueprints.reports import bp
from blueprints.reports.ranges import EARLIEST, MAX_DAYS, RANGES, parse_range
from engine.clock import local_date

METRIC_LABELS = {"recipients": "Recipients", "delivered": "Delivered", "opened": "Opened",
                 "clicked": "Clicked", "failed": "Failed", "unsubscribed": "Unsubscribed",
                 "bounced": "Bounced"}
CHART_METRICS = tuple(METRIC_LABELS)


def _trigger(trigger_id) -> Trigger:
    trigger = db.session.get(Trigger, trigger_id)
    if trigger is None:
        abort(404)
    return trigger


def _parse_date(value):
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _index_context(now):
    rng = parse_range(request.args, now.date())
    triggers = db.session.scalars(select(Trigger).order_by(Trigger.priority.desc(), Trigger.name)).all()
    summaries = reports.trigger_summaries(now, start=rng.start, end=rng.end)
    days = reports.daily_overview(rng.start, rng.end)
    return dict(triggers=triggers, summaries=summaries, rng=rng, ranges=RANGES, labels=METRIC_LABELS,
                overview=reports.overview(now, start=rng.start, end=rng.end), chart=_chart_data(days))


@bp.route("/")
def index():
    now = utcnow()
    fold_for_reading(now)
    db.session.commit()
    return render_page("reports/index.html", "reports/_index_range.html", **_index_context(now))


@bp.route("/export.csv")
def index_csv():
    """The overview table of the chosen range: one row per trigger, the sums of its days."""
    now = utcnow()
    fold_for_reading(now)
    db.session.commit()
    ctx = _index_context(now)
    rng, summaries = ctx["rng"], ctx["summaries"]
    header = ["trigger_id", "trigger", "status", "from", "to", *CHART_METRICS, "click_thru_rate"]
    rows = []
    for t in ctx["triggers"]:
        s = summaries.get(t.id) or {m: 0 for m in CHART_METRICS} | {"ctr": None}
        rows.append([t.id, t.name, t.status, rng.start.isoformat(), rng.end.isoformat(),
                     *[s[m] for m in CHART_METRICS], _ctr_cell(s["ctr"])])
    return _csv(header, rows, f"reports-{rng.start.isoformat()}-{rng.end.isoformat()}.csv")


def _ctr_cell(ctr):
    return "" if ctr is None else f"{ctr:.4f}"


def _csv(header, rows, filename):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow(safe_row(row))
    return Response(buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _trends(trigger, now):
    """The trigger report's range, its days (from the trigger's first day on) and totals."""
    tz = trigger.timezone or "UTC"
    rng = parse_range(request.args, local_date(now, tz))
    first = reports.first_day(trigger)
    shown_start = max(rng.start, first) if first else rng.start
    if shown_start <= rng.end:
        rows = reports.daily_trends(trigger, shown_start, rng.end)
        totals = reports.range_totals(trigger, shown_start, rng.end)
    else:
        rows, totals = [], {m: 0 for m in CHART_METRICS} | {"ctr": None}
    return rng, shown_start, first, rows, totals


@bp.route("/triggers/<int:trigger_id>")
def trigger(trigger_id):
    from engine.clock import next_run
    from engine.triggers import trigger_stats

    trigger = _trigger(trigger_id)
    now = utcnow()
    fold_for_reading(now)
    db.session.commit()
    tz = trigger.timezone or "UTC"
    rng, shown_start, first, rows, totals = _trends(trigger, now)
    stats = trigger_stats([trigger.id], now).get(trigger.id, {})
    upcoming = None
    if trigger.kind == "schedule":
        upcoming = next_run(trigger.generate_at, trigger.send_at, tz, now)
    context = dict(trigger=trigger, rows=rows, totals=totals, rng=rng, shown_start=shown_start,
                   first_day=first, ranges=RANGES, stats=stats, upcoming=upcoming,
                   status_rows=reports.daily_status(trigger), labels=METRIC_LABELS,
                   chart=_chart_data(list(reversed(rows))))
    return render_page("reports/trigger.html", "reports/_trends.html", **context)


@bp.route("/triggers/<int:trigger_id>/trends.csv")
def trends_csv(trigger_id):
    """The daily trends table of the chosen range as CSV, oldest day first, then the totals."""
    trigger = _trigger(trigger_id)
    now = utcnow()
    fold_for_reading(now)
    db.session.commit()
    rng, shown_start, _first, rows, totals = _trends(trigger, now)
    header = ["day", *CHART_METRICS, "click_thru_rate"]
    out = [[r["day"].isoformat(), *[r[m] for m in CHART_METRICS], _ctr_cell(r["ctr"])] for r in reversed(rows)]
    out.append(["total (distinct contacts)", *[totals[m] for m in CHART_METRICS], _ctr_cell(totals["ctr"])])
    return _csv(header, out, f"trigger-{trigger.id}-{rng.start.isoformat()}-{rng.end.isoformat()}.csv")


@bp.route("/triggers/<int:trigger_id>/matching")
def matching(trigger_id):
    """How many contacts the rule matches right now: counted on its own request
    (htmx, after the page shows) because it evaluates the rule over every contact."""
    from engine.triggers.audience import audience_sample
    from engine.rules import RuleError

    trigger = _trigger(trigger_id)
    try:
        sample, error = audience_sample(trigger, utcnow(), limit=1), None
    except RuleError as exc:
        sample, error = None, str(exc)
    return render_page("reports/_matching.html", "reports/_matching.html", trigger=trigger,
                       sample=sample, error=error)


def _chart_data(days):
    """Oldest day first: {"labels": [...], metric: [...], "series": [[key, label], ...]}."""
    return {"labels": [d["day"].strftime("%d %b") for d in days],
            "series": [[m, METRIC_LABELS[m]] for m in CHART_METRICS],
            **{m: [d[m] for d in days] for m in CHART_METRICS}}


@bp.route("/triggers/<int:trigger_id>/recipients")
def recipients(trigger_id):
    """Who is behind one number: a day's cell (day=) or the totals row (start= and end=)."""
    trigger = _trigger(trigger_id)
    metric = request.args.get("metric", "")
    if request.args.get("day"):
        day = end = _parse_date(request.args.get("day"))
    else:
        day, end = _parse_date(request.args.get("start")), _parse_date(request.args.get("end"))
    if day is None or end is None or metric not in METRIC_LABELS or day > end \
            or (end - day).days >= MAX_DAYS or day < EARLIEST:
        abort(404)
    query = reports.recipients_query(trigger, day, metric, end)
    if request.args.get("format") == "csv":
        return _csv_response(trigger, day, end, metric, query)
    # db.paginate yields the first column of each row: as one Bundle, that column is the row.
    rows = query.with_only_columns(Bundle("recipient", *query.selected_columns))
    recipients = paginate(rows, *page_args(50))
    span = {"day": day.isoformat()} if day == end else {"start": day.isoformat(), "end": end.isoformat()}
    return render_page("reports/recipients.html", "reports/_recipients_table.html", trigger=trigger,
                       day=day, end=end, span=span, metric=metric, label=METRIC_LABELS[metric],
                       recipients=recipients)


def _csv_response(trigger, day, end, metric, query):
    """Stream the rows as CSV: constant memory, however many there are."""
    header = ["contact_external_id", "email", "first_name", "last_name", "account", "at_utc", "event", "detail"]

    def generate():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        result = db.session.execute(query.execution_options(yield_per=2000))
        for n, row in enumerate(result, 1):
            writer.writerow(safe_row([row.external_id, row.email, row.first_name or "", row.last_name or "",
                                      row.account_name, row.at.isoformat(sep=" ", timespec="seconds"),
                                      row.kind, row.detail or ""]))
            if n % 500 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    days = day.isoformat() if day == end else f"{day.isoformat()}-{end.isoformat()}"
    filename = f"trigger-{trigger.id}-{days}-{metric}.csv"
    return Response(stream_with_context(generate()), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.route("/communications/<int:communication_id>")
def communication(communication_id):
    """One row of an account's communication log opened: the emails that trigger
    sent that day to the account's contacts, each linking to the message."""
    from engine.reports.communications import day_messages_query
    from models import Account, Communication

    comm = db.session.get(Communication, communication_id)
    if comm is None:
        abort(404)
    query = day_messages_query(comm)
    messages = paginate(query.with_only_columns(Bundle("message", *query.selected_columns)), *page_args(50))
    return render_page("reports/communication.html", "reports/_communication_messages.html",
                       trigger=comm.trigger, comm=comm, account=db.session.get(Account, comm.account_id),
                       messages=messages)
