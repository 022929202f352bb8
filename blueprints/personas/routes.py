"""Personas: saved rules whose membership is refreshed and diffed into enter/leave
transitions. Everyone signed in may look; managers and admins change.

Saving and deleting follow engine.personas.editing; the views commit, then ring
for a refresh when the membership is stale."""
import json
from datetime import timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from htmx_flask import make_response
from markupsafe import Markup
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from blueprints.auth.decorators import EDITORS, role_required
from blueprints.personas.forms import PersonaForm
from blueprints.rules.builder import builder_context, catalog_index, read_rule_field, rule_to_tree, tree_view
from blueprints.ui import page_args, paginate
from engine import personas as engine
from engine.personas.editing import (NAME_TAKEN, PersonaInUse, PersonaInvalid, delete_persona,
                                     save_persona, validate_persona)
from engine.ports import doorbell
from engine.rules.fields import USER_TYPE_LABELS
from extensions import db
from models import Account, Contact, Persona, PersonaMember, PersonaTransition, Trigger
from models.base import utcnow
from blueprints.personas import bp

RULE_PREFIX = ""  # the persona form has one builder: its field is plain "rule_json"


def _can_edit() -> bool:
    return current_user.is_authenticated and current_user.role in EDITORS


def _persona_or_404(persona_id: int) -> Persona:
    persona = db.session.get(Persona, persona_id)
    if persona is None:
        abort(404)
    return persona


@bp.get("/")
def index():
    now = utcnow()
    personas = db.session.scalars(select(Persona).order_by(func.lower(Persona.name))).all()
    ids = [p.id for p in personas]
    week = engine.transition_counts(ids, now - timedelta(days=7))
    used = dict(db.session.execute(
        select(Trigger.persona_id, func.count()).where(Trigger.persona_id.in_(ids))
        .group_by(Trigger.persona_id)
    ).all()) if ids else {}
    return render_template("personas/index.html", personas=personas, week=week, used=used,
                           can_edit=_can_edit())


@bp.route("/new", methods=["GET", "POST"])
@role_required(*EDITORS)
def create():
    form = PersonaForm()
    return _edit_form(Persona(), form, is_new=True)


@bp.route("/<int:persona_id>/edit", methods=["GET", "POST"])
@role_required(*EDITORS)
def edit(persona_id):
    persona = _persona_or_404(persona_id)
    form = PersonaForm(obj=persona)
    return _edit_form(persona, form, is_new=False)


def _edit_form(persona: Persona, form: PersonaForm, *, is_new: bool):
    status, rule_errors = 200, []
    if request.method == "POST":
        rule, rule_errors = read_rule_field(request.form, RULE_PREFIX)
        stale = _save(persona, form, rule, rule_errors) if form.validate() else None
        if stale is not None:
            if stale:  # after the commit, so the refresh reads the saved rule
                doorbell().refresh_persona(persona.id)
                flash(f"“{persona.name}” saved. Its members are being refreshed.", "success")
            else:
                flash(f"“{persona.name}” saved.", "success")
            return redirect(url_for("personas.detail", persona_id=persona.id))
        status = 422
        rb = builder_context(prefix=RULE_PREFIX, errors=rule_errors,
                             json_text=request.form.get(f"{RULE_PREFIX}rule_json", ""))
    else:
        rb = builder_context(persona.rule if persona.rule else None, RULE_PREFIX)
    html = render_template("personas/edit.html", form=form, persona=persona, is_new=is_new, rb=rb,
                           rule_errors=rule_errors)
    return html, status


def _save(persona: Persona, form: PersonaForm, rule, rule_errors: list) -> bool | None:
    """Save and commit: whether the membership is stale, or None when refused
    (the reasons attached to the form's fields; the builder shows the rule's)."""
    name, description = form.name.data, form.description.data
    try:
        if rule_errors:  # the builder already names the rule's bad nodes by path
            _attach(form, validate_persona(persona.id, name, description, rule)[1])
            return None
        stale = save_persona(persona, name, description, rule)
        db.session.commit()
        return stale
    except PersonaInvalid as exc:
        db.session.rollback()
        rule_errors += [{"path": "", "message": m} for m in exc.errors.get("rule", [])]
        _attach(form, exc.errors)
    except IntegrityError:  # the same name saved at the same moment
        db.session.rollback()
        form.name.errors.append(NAME_TAKEN)
    return None


def _attach(form: PersonaForm, errors: dict) -> None:
    for field in ("name", "description"):
        getattr(form, field).errors = list(getattr(form, field).errors) + errors.get(field, [])


@bp.get("/<int:persona_id>")
def detail(persona_id):
    persona = _persona_or_404(persona_id)
    now = utcnow()
    page, per_page = page_args(25)
    search = (request.args.get("q") or "").strip()
    members = (select(PersonaMember)
               .join(Contact, Contact.id == PersonaMember.contact_id)
               .join(Account, Account.id == Contact.account_id)
               .where(PersonaMember.persona_id == persona.id)
               .order_by(PersonaMember.entered_at.desc(), Contact.id))
    if search:
        like = f"%{search.lower()}%"
        members = members.where(or_(func.lower(Contact.email).like(like),
                                    func.lower(Contact.first_name + " " + Contact.last_name).like(like),
                                    func.lower(Account.name).like(like)))
    pagination = paginate(members, page, per_page)
    ctx = {"persona": persona, "rows": _member_rows(pagination.items), "pagination": pagination,
           "q": search}
    if request.htmx.target == "members":
        return render_template("personas/_members.html", **ctx)
    daily = engine.daily_transitions(persona.id, now, 30)
    week = engine.transition_counts([persona.id], now - timedelta(days=7))[persona.id]
    recent = db.session.execute(
        select(PersonaTransition, Contact).join(Contact, Contact.id == PersonaTransition.contact_id)
        .where(PersonaTransition.persona_id == persona.id)
        .order_by(PersonaTransition.id.desc()).limit(10)
    ).all()
    triggers = db.session.scalars(select(Trigger).where(Trigger.persona_id == persona.id)
                                  .order_by(Trigger.name)).all()
    tree = _summary_tree(persona.rule)
    refreshing = _read_stamp(request.args.get("refreshing"))
    progress = Markup(_refresh_status(persona, refreshing)) if refreshing else None  # our own template
    chart = {"labels": [d["day"].strftime("%d %b") for d in daily],
             "enter": [d["enter"] for d in daily], "leave": [d["leave"] for d in daily]}
    return render_template(
        "personas/detail.html", daily=daily, chart=chart, week=week, recent=recent,
        triggers=triggers, tree=tree, can_edit=_can_edit(), user_type_labels=USER_TYPE_LABELS, progress=progress,
        rule_text=json.dumps(persona.rule or {}, separators=(",", ":")), **ctx)


def _member_rows(members) -> list[tuple]:
    """(contact, account, entered_at) for one page of members, in their order (one query)."""
    ids = [m.contact_id for m in members]
    found = {c.id: (c, a) for c, a in db.session.execute(
        select(Contact, Account).join(Account, Account.id == Contact.account_id)
        .where(Contact.id.in_(ids)))} if ids else {}
    return [(*found[m.contact_id], m.entered_at) for m in members if m.contact_id in found]


def _summary_tree(rule):
    from engine.rules import RuleError, field_catalog, parse_rule

    try:
        parse_rule(rule or {})
    except RuleError:
        return None
    return tree_view(rule_to_tree(rule or {}), catalog_index(field_catalog()))


@bp.post("/<int:persona_id>/refresh")
@role_required(*EDITORS)
def refresh(persona_id):
    persona = _persona_or_404(persona_id)
    since = utcnow()  # the refresh asked for now is done once last_refreshed_at reaches this
    if doorbell().refresh_persona(persona.id):
        message = f"Refresh of “{persona.name}” queued: members update in a moment."
    else:
        message = f"A refresh of “{persona.name}” is already queued."
    if request.htmx:
        # The progress partial takes the place of the empty slot and polls until the refresh is done.
        return make_response(_refresh_status(persona, since), 200, trigger={"toast": message})
    flash(message, "info")
    return redirect(url_for("personas.detail", persona_id=persona.id, refreshing=_stamp(since)))


def _stamp(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")


def _read_stamp(text: str | None):
    from datetime import datetime

    if not text or len(text) > 40:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=None) if moment.tzinfo is None else None


# Seconds after which a refresh nobody has picked up says so (as the import progress does).
NO_WORKER_AFTER = 20


def _refresh_status(persona: Persona, since):
    done = persona.last_refreshed_at is not None and persona.last_refreshed_at >= since
    now = utcnow()
    changes = engine.transition_counts([persona.id], since)[persona.id] if done else None
    return render_template("personas/_refresh.html", persona=persona, since=_stamp(since), done=done,
                           changes=changes, waited=(now - since).total_seconds(),
                           no_worker_after=NO_WORKER_AFTER)


@bp.get("/<int:persona_id>/refresh-status")
def refresh_status(persona_id):
    """The self-replacing progress partial the Refresh now button polls (every second while
    the refresh runs; the finished version pulls the updated figures into the page)."""
    persona = _persona_or_404(persona_id)
    given = request.args.get("since")
    if not given:  # no refresh named: how the last one went (or that the first is still to come)
        return _refresh_status(persona, persona.last_refreshed_at or utcnow())
    since = _read_stamp(given)
    if since is None:
        abort(400)
    return _refresh_status(persona, since)


@bp.post("/<int:persona_id>/delete")
@role_required(*EDITORS)
def remove(persona_id):
    persona = _persona_or_404(persona_id)
    name = persona.name
    try:
        delete_persona(persona)
        db.session.commit()
    except PersonaInUse as exc:
        db.session.rollback()
        users = exc.trigger_names
        names = ", ".join(f"“{n}”" for n in users[:5]) + (" and others" if len(users) > 5 else "")
        flash(f"“{name}” cannot be deleted: it is used by "
              f"{len(users)} trigger{'s' if len(users) != 1 else ''} ({names}). "
              "Change or delete those triggers first.", "error")
        return redirect(url_for("personas.detail", persona_id=persona_id)), 303
    except IntegrityError:  # a trigger started using it a moment ago
        db.session.rollback()
        flash(f"“{name}” is now used by a trigger and was not deleted.", "error")
        return redirect(url_for("personas.detail", persona_id=persona_id)), 303
    flash(f"Persona “{name}” deleted.", "success")
    return redirect(url_for("personas.index")), 303
