"""Outbox pages: review, approve, reject, unapprove, resend or dismiss triggered emails.

Views parse the request, call engine/outbox (the only code that changes a
message's state), commit, and render. htmx actions re-render the list fragment
and confirm with an HX-Trigger toast; without JavaScript they redirect back.
"""
import logging

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from htmx_flask import make_response

from blueprints.auth.decorators import APPROVERS, role_required
from blueprints.outbox import queries
from blueprints.outbox.history import message_history
from blueprints.ui import count_noun, render_page
from engine import outbox as engine_outbox
from engine.render.messages import ensure_rendered
from extensions import db
from models import Trigger
from models.base import utcnow
from blueprints.outbox import bp

log = logging.getLogger(__name__)


def _plural(n: int, word: str = "email") -> str:
    return count_noun(n, word)


def _hold_minutes() -> int:
    return int(current_app.config.get("APPROVAL_HOLD_MINUTES", 10))


def _render_shown(messages, now) -> bool:
    """Big runs are rendered by jobs a little later: render the waiting messages
    about to be shown that are not yet (only these, in one batch), so staff see
    the real subject and body. True if anything was rendered (reload the rows:
    a message whose rendering failed is now `failed`)."""
    ids = [m.id for m in messages if m.subject is None and m.state in engine_outbox.WAITING_STATES]
    if not ids:
        return False
    try:
        ensure_rendered(ids, now)
        db.session.commit()
    except Exception:  # noqa: BLE001 - the page still shows the rows ("not rendered")
        db.session.rollback()
        log.exception("could not render outbox messages %s for display", ids[:10])
    return True


def _list_context(f: queries.Filters) -> dict:
    now = utcnow()
    if f.grouped:  # Suppressed, folded: one row per contact, trigger and reason
        page = queries.suppressed_groups_page(f)
    else:
        page = queries.list_page(f)
        if _render_shown(page.items, now):
            page = queries.list_page(f)
    rows = page.items
    waiting_tab = f.tab == "waiting"
    return {
        "f": f, "tabs": queries.TABS, "counts": queries.tab_counts(f), "rows": rows,
        "pagination": page, "now": now,
        "countdown_window": queries.COUNTDOWN_WINDOW,
        "sends_at": engine_outbox.sends_at, "can_unapprove": engine_outbox.can_unapprove,
        "reasons": queries.reason_counts(f),
        "engagement": queries.engagement([m.id for m in rows]) if f.tab == "sent" else {},
        "by_trigger": queries.waiting_by_trigger() if waiting_tab and not f.trigger_id else [],
        "trigger_waiting": (engine_outbox.awaiting_approval_count(f.trigger_id)
                            if waiting_tab and f.trigger_id else 0),
        "trigger_name": queries.trigger_label(f.trigger_id),
        "account_name": queries.account_label(f.account_id),
        "contact_name": queries.contact_label(f.contact_id),
        "can_act": current_user.can_approve, "hold_minutes": _hold_minutes(),
    }


@bp.get("/")
def index():
    f = queries.parse_filters(request.args)
    context = _list_context(f)
    context["trigger_options"] = queries.trigger_options()
    return render_page("outbox/index.html", "outbox/_fragment.html", **context)


def _after_action(f: queries.Filters, message: str, tone: str = "success"):
    """htmx: the refreshed list + a toast (and the new waiting count for the nav badge).
    Plain form post: flash and go back to the same list."""
    if request.htmx:
        waiting = engine_outbox.awaiting_approval_count()
        return make_response(render_template("outbox/_fragment.html", **_list_context(f)),
                             trigger={"toast": message, "outbox-waiting": waiting})
    flash(message, tone)
    return redirect(url_for("outbox.index", **f.args()))


def _run(action: str, ids: list[int], now) -> tuple[str, str]:
    """Call the engine for one action, commit, and ring for what was approved;
    returns (message, flash tone)."""
    asked = len(ids)
    if action == "approve":
        n = engine_outbox.approve(ids, current_user.id, now)
        text = (f"Approved {_plural(n)}. Sending starts after the {_hold_minutes()}-minute hold "
                "(you can unapprove until then).") if n else \
            "Nothing approved: the selected emails were no longer waiting for approval."
    elif action == "reject":
        n = engine_outbox.reject(ids, current_user.id, now)
        text = f"Rejected {_plural(n)}; they will not be sent." if n else \
            "Nothing rejected: the selected emails were no longer waiting for approval."
    elif action == "unapprove":
        n = engine_outbox.unapprove(ids, now)
        text = f"Unapproved {_plural(n)}; back in Waiting for approval." if n else \
            "Too late to unapprove: the hold has ended and sending has started."
    elif action == "resend":
        n = engine_outbox.resend_uncertain(ids, current_user.id, now)
        text = f"Queued {_plural(n)} to be sent again." if n else \
            "Nothing resent: the selected emails are no longer uncertain."
    else:
        n = engine_outbox.dismiss_uncertain(ids, current_user.id, now)
        text = f"Dismissed {_plural(n)}; they will not be sent again." if n else \
            "Nothing dismissed: the selected emails are no longer uncertain."
    db.session.commit()
    if n and action in ("approve", "resend"):
        engine_outbox.ring_approved_sends(current_user.id, now)  # after the commit: workers see the rows
    if n and n < asked:
        text += f" {_plural(asked - n)} had already moved on and {'was' if asked - n == 1 else 'were'} left alone."
    return text, "success" if n else "warning"


@bp.post("/<any(approve, reject, unapprove, resend, dismiss):action>")
@role_required(*APPROVERS)
def act(action):
    f = queries.parse_filters(request.form)
    # A row's own button sends one=<id>; it wins over ticked checkboxes in the same form.
    one = request.form.get("one")
    ids = queries.parse_ids([one] if one else request.form.getlist("ids"))
    if not ids:
        return _after_action(f, "Select at least one email first.", "warning")
    text, tone = _run(action, ids, utcnow())
    if request.form.get("next") == "detail" and len(ids) == 1:
        flash(text, tone)
        return redirect(url_for("outbox.message", message_id=ids[0]))
    return _after_action(f, text, tone)


@bp.route("/approve-all", methods=["GET", "POST"])
@role_required(*APPROVERS)
def approve_all():
    """Approve every waiting email of one trigger -- only after an explicit confirmation."""
    trigger_id = queries.parse_ids([request.values.get("trigger_id")])
    trigger = db.session.get(Trigger, trigger_id[0]) if trigger_id and trigger_id[0] < queries.INT_ID else None
    if trigger is None:
        abort(404)
    f = queries.parse_filters(request.values)
    f.tab = "waiting"
    if request.method == "POST" and request.form.get("confirm") == "yes":
        now = utcnow()
        n = engine_outbox.approve_all_for_trigger(trigger.id, current_user.id, now)
        db.session.commit()
        if n:
            engine_outbox.ring_approved_sends(current_user.id, now)
        text = (f"Approved all {_plural(n)} from “{trigger.name}”. Sending starts after the "
                f"{_hold_minutes()}-minute hold.") if n else \
            f"“{trigger.name}” has no emails waiting for approval."
        return _after_action(f, text, "success" if n else "warning")
    return render_template("outbox/confirm_approve_all.html", trigger=trigger, f=f,
                           waiting=engine_outbox.awaiting_approval_count(trigger.id),
                           hold_minutes=_hold_minutes())


@bp.get("/<bigint:message_id>")
def message(message_id):
    m = queries.load_message(message_id)
    if m is None:
        abort(404)
    now = utcnow()
    if _render_shown([m], now):
        m = queries.load_message(message_id)
    return render_template(
        "outbox/message.html", m=m, now=now, events=queries.delivery_events(m.id),
        bounce_records=queries.bounce_records(m.id),
        history=message_history(m), send_at=engine_outbox.sends_at(m),
        can_unapprove=engine_outbox.can_unapprove(m, now), can_act=current_user.can_approve,
        back=queries.parse_filters(request.args), countdown_window=queries.COUNTDOWN_WINDOW,
    )
