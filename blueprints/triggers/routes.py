"""Triggers list and lifecycle actions (copy, activate, deactivate, delete).
The four-step wizard lives in blueprints/triggers/wizard.py on the same blueprint."""
from flask import flash, redirect, request, url_for
from sqlalchemy import func, select

from blueprints.auth.decorators import EDITORS, role_required
from blueprints.auth.routes import _safe_next
from blueprints.triggers.forms import ConfirmForm
from blueprints.ui import render_page
from engine import triggers as trigger_engine
from engine.reports.fold import fold_for_reading
from extensions import db
from models import ContactList, Persona, Trigger
from models.base import utcnow
from models.trigger import STATUSES
from blueprints.triggers import bp

SORTS = {
    "priority": (Trigger.priority.desc(), Trigger.name),
    "name": (func.lower(Trigger.name),),
    "status": (Trigger.status, Trigger.priority.desc()),
    "created": (Trigger.created_at.desc(),),
}


@bp.route("/")
def index():
    status = request.args.get("status", "")
    sort = request.args.get("sort", "priority")
    # Plain rows of just what the list shows (500 ORM objects with their rules
    # and content cost more than the rest of the page's queries).
    query = (select(Trigger.id, Trigger.name, Trigger.description, Trigger.kind, Trigger.event_name,
                    Trigger.priority, Trigger.status, Trigger.started_at, Trigger.timezone,
                    Trigger.field, Trigger.from_value, Trigger.to_value, Trigger.list_id,
                    Persona.name.label("persona_name"), ContactList.name.label("list_name"))
             .outerjoin(Persona, Persona.id == Trigger.persona_id)
             .outerjoin(ContactList, ContactList.id == Trigger.list_id))
    if status in STATUSES:
        query = query.where(Trigger.status == status)
    query = query.order_by(*SORTS.get(sort, SORTS["priority"]))
    now = utcnow()
    fold_for_reading(now)
    db.session.commit()  # the fold's writes, and the fold lock let go before the page reads
    rows = db.session.execute(query).all()
    stats = trigger_engine.trigger_stats([t.id for t in rows], now) if rows else {}
    status_counts = dict(db.session.execute(
        select(Trigger.status, func.count()).group_by(Trigger.status)).all())
    return render_page(
        "triggers/index.html", "triggers/_list.html", triggers=rows, stats=stats, status=status,
        sort=sort, status_counts=status_counts, statuses=STATUSES, form=ConfirmForm(),
    )


@bp.route("/<int:trigger_id>/copy", methods=["POST"])
@role_required(*EDITORS)
def copy(trigger_id):
    original = db.get_or_404(Trigger, trigger_id)
    clone = trigger_engine.copy_trigger(original)
    db.session.commit()
    flash(f"Copied “{original.name}” to a new draft.", "success")
    return redirect(url_for("triggers.step", trigger_id=clone.id, step="message"))


@bp.route("/<int:trigger_id>/activate", methods=["POST"])
@role_required(*EDITORS)
def activate(trigger_id):
    trigger = db.get_or_404(Trigger, trigger_id)
    problems = trigger_engine.activate(trigger, utcnow())
    if problems:
        db.session.rollback()
        flash("This trigger can't be activated yet: " + "; ".join(problems), "error")
        return redirect(url_for("triggers.step", trigger_id=trigger.id, step="review"))
    db.session.commit()
    flash(f"“{trigger.name}” is active.", "success")
    return redirect(_safe_next(request.form.get("next"), url_for("triggers.index")))


@bp.route("/<int:trigger_id>/deactivate", methods=["GET", "POST"])
@role_required(*EDITORS)
def deactivate(trigger_id):
    """Asks first: how many emails wait, and whether to cancel them (the default) or keep them."""
    trigger = db.get_or_404(Trigger, trigger_id)
    back = _safe_next(request.values.get("next"), url_for("triggers.index"))
    if trigger.status != "active":
        flash(f"“{trigger.name}” is not active.", "info")
        return redirect(back)
    form = ConfirmForm()
    waiting = trigger_engine.waiting_by_state(trigger.id, utcnow())
    choice = request.form.get("waiting", "cancel")
    if request.method == "POST" and form.validate_on_submit():
        if choice not in ("cancel", "keep"):
            flash("Choose whether to cancel or keep the waiting emails.", "error")
            return render_page("triggers/deactivate.html", trigger=trigger, waiting=waiting,
                               form=form, back=back, choice="cancel"), 400
        cancelled = trigger_engine.deactivate(trigger, utcnow(), keep_waiting=choice == "keep")
        db.session.commit()
        kept = sum(waiting.values()) if choice == "keep" else 0
        note = (f" {cancelled} waiting email{'s' if cancelled != 1 else ''} cancelled." if cancelled
                else f" {kept} waiting email{'s' if kept != 1 else ''} kept: they can still be "
                     "approved and sent." if kept else "")
        flash(f"“{trigger.name}” is inactive.{note}", "success")
        return redirect(back)
    return render_page("triggers/deactivate.html", trigger=trigger, waiting=waiting, form=form,
                       back=back, choice=choice)


@bp.route("/<int:trigger_id>/delete", methods=["GET", "POST"])
@role_required(*EDITORS)
def delete(trigger_id):
    trigger = db.get_or_404(Trigger, trigger_id)
    waiting = trigger_engine.waiting_by_state(trigger.id, utcnow())
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        cancel = request.form.get("cancel_waiting") == "1"
        try:
            trigger_engine.delete_trigger(trigger, utcnow(), cancel_waiting=cancel)
        except trigger_engine.TriggerInUse as exc:
            db.session.rollback()
            flash(str(exc) or "Emails are still waiting in the outbox.", "error")
        else:
            db.session.commit()
            flash(f"Deleted “{trigger.name}”.", "success")
            return redirect(url_for("triggers.index"))
    return render_page("triggers/delete.html", trigger=trigger, waiting=waiting, form=form)


from blueprints.triggers import wizard  # noqa: E402,F401  (registers the wizard routes)
