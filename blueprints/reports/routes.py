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

RANGES = (7, 30, 90)
METRIC_LABELS = {"recipients": "Recipients", "delivered": "Delivered", "opened": "Opened",
                 "clicked": "Clicked", "failed": "Failed", "unsubscribed": "Unsubscribed"}


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


@bp.route("/")
def index():
    now = utcnow()
    fold_for_reading(now)
    db.session.commit()
    triggers = db.session.scalars(select(Trigger).order_by(Trigger.priority.desc(), Trigger.name)).all()
    summaries = reports.trigger_summaries(now, 30)
    return render_page("reports/index.html", triggers=triggers, summaries=summaries,
                       overview=reports.overview(now, 30), labels=METRIC_LABELS)


@bp.route("/triggers/<int:trigger_id>")
def trigger(trigger_id):
    from engine.clock import next_run
    from engine.triggers import trigger_stats

    trigger = _trigger(trigger_id)
    now = utcnow()
    fold_for_reading(now)
    db.session.commit()
    tz = trigger.timezone or "UTC"
    days = request.args.get("days", 30, type=int)
    start, end = _parse_date(request.args.get("start")), _parse_date(request.args.get("end"))
    error = None
    if (request.args.get("start") or request.args.get("end")) and not (start and end):
        error = "Enter both dates of the custom range as YYYY-MM-DD."
    if start and end:
        if start > end:
            start, end = end, start
        if (end - start).days > 366:
            error, start, end = "A custom range can cover at most 366 days.", None, None
    if not (start and end):
        days = days if days in RANGES else 30
        start, end = reports.range_for(days, tz, now)
    rows = reports.daily_trends(trigger, start, end)
    stats = trigger_stats([trigger.id], now).get(trigger.id, {})
    upcoming = None
    if trigger.kind == "schedule":
        upcoming = next_run(trigger.generate_at, trigger.send_at, tz, now)
    context = dict(trigger=trigger, rows=rows, totals=reports.totals(rows), start=start, end=end,
                   days=days, ranges=RANGES, custom=bool(request.args.get("start")), error=error,
                   stats=stats, upcoming=upcoming, status_rows=reports.daily_status(trigger),
                   labels=METRIC_LABELS, chart=_chart_data(rows))
    return render_page("reports/trigger.html", "reports/_trends.html", **context)


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


def _chart_data(rows):
    ordered = list(reversed(rows))
    return {"labels": [r["day"].strftime("%d %b") for r in ordered],
            **{m: [r[m] for r in ordered] for m in ("recipients", "delivered", "opened", "clicked", "failed", "unsubscribed")}}


@bp.route("/triggers/<int:trigger_id>/recipients")
def recipients(trigger_id):
    trigger = _trigger(trigger_id)
    day = _parse_date(request.args.get("day"))
    metric = request.args.get("metric", "")
    if day is None or metric not in METRIC_LABELS:
        abort(404)
    query = reports.recipients_query(trigger, day, metric)
    if request.args.get("format") == "csv":
        return _csv_response(trigger, day, metric, query)
    # db.paginate yields the first column of each row: as one Bundle, that column is the row.
    rows = query.with_only_columns(Bundle("recipient", *query.selected_columns))
    recipients = paginate(rows, *page_args(50))
    return render_page("reports/recipients.html", "reports/_recipients_table.html", trigger=trigger,
                       day=day, metric=metric, label=METRIC_LABELS[metric], recipients=recipients)


def _csv_response(trigger, day, metric, query):
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

    filename = f"trigger-{trigger.id}-{day.isoformat()}-{metric}.csv"
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
