"""The reusable rule builder's endpoints: condition rows, groups, JSON <-> visual,
live recipient preview, the "why / why not" explainer and the full match list.

Read-only for every signed-in role (nothing here writes); the forms that
embed the builder check their own roles when saving.
"""
import json
import logging

from flask import abort, render_template, request
from sqlalchemy import func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import joinedload

from blueprints.rules.builder import (
    DEFAULT_FIELD, GROUP_MODES, builder_context, catalog_index, condition_view, grouped_catalog,
    read_rule_field, rule_to_tree, tree_view, value_kind,
)
from blueprints.rules.values import HELD_LABELS, field_values, show
from blueprints.ui import page_args, paginate, render_page
from engine.rules.fields import USER_TYPE_LABELS
from extensions import db
from models import Contact
from models.base import utcnow
from blueprints.rules import bp
from blueprints.rules import panels  # noqa: F401,E402  (registers the contact page's explainer)

log = logging.getLogger(__name__)
PREVIEW_LIMIT = 20
EVALUATION_FAILED = [{"path": "", "message": "the rule could not be evaluated; try simplifying it"}]


def _prefix(source) -> str:
    prefix = source.get("prefix", "")
    # A prefix only namespaces form fields and element ids.
    return prefix if all(c.isalnum() or c in "-_" for c in prefix) and len(prefix) <= 40 else ""


# ------------------------------------------------------------------ builder rows

def _raw_value(args, kind):
    """The row's current value, reshaped for the value inputs of `kind`."""
    if kind in ("list", "checks"):
        items = args.getlist("rb_list") or [
            s.strip() for s in args.get("rb_list_text", "").split(",") if s.strip()]
        return items or ([args["rb_value"]] if args.get("rb_value") else [])
    if kind == "between":
        return [args.get("rb_low") or args.get("rb_value") or "", args.get("rb_high", "")]
    return args.get("rb_value") or args.get("rb_low") or ""


@bp.get("/condition")
def condition():
    """One condition row: a new one, or an existing one re-rendered after its
    field or operator changed (operators and value inputs follow the type)."""
    args = request.args
    prefix, section = _prefix(args), args.get("section", "user")
    if section not in DEFAULT_FIELD:
        section = "user"
    catalog = _catalog()
    index = catalog_index(catalog)
    field = args.get("rb_field") or DEFAULT_FIELD[section]
    if field == "event:" and args.get("rb_event_name", "").strip():
        field = "event:" + args["rb_event_name"].strip()
    if section == "account" and not field.startswith("account."):
        field = DEFAULT_FIELD["account"]
    draft = condition_view({"field": field, "op": args.get("rb_op")}, index, section)
    same_type = args.get("rb_prev_type") == draft["type"]
    cond = {"field": field, "op": draft["op"] if same_type else None,
            "within_days": args.get("rb_within") or None}
    if same_type:
        kind = value_kind(draft["type"], draft["op"], draft["choices"])
        cond["value"] = _raw_value(args, kind)
    row = condition_view(cond, index, section)
    return render_template("rules/_condition.html", row=row, section=section,
                           rb={"prefix": prefix, "catalog_user": grouped_catalog(catalog, "user"),
                               "catalog_account": grouped_catalog(catalog, "account")})


@bp.get("/group")
def group():
    """A new nested group holding one new condition."""
    prefix = _prefix(request.args)
    mode = request.args.get("mode", "any")
    catalog = _catalog()
    index = catalog_index(catalog)
    node = {"kind": "group", "mode": mode if mode in ("all", "any", "none", "notall") else "any",
            "children": [condition_view({}, index, "user")]}
    return render_template("rules/_group.html", node=node, root=False,
                           rb={"prefix": prefix, "catalog_user": grouped_catalog(catalog, "user"),
                               "group_modes": GROUP_MODES})


@bp.post("/builder")
def visual():
    """The visual builder re-rendered from the JSON tab (422 + errors when it is not valid)."""
    prefix = _prefix(request.form)
    rule, errors = read_rule_field(request.form, prefix)
    if errors:
        return render_template("rules/_errors.html", errors=errors), 422
    ctx = builder_context(rule, prefix)
    return render_template("rules/_visual.html", rb=ctx)


@bp.post("/validate")
def validate():
    prefix = _prefix(request.form)
    rule, errors = read_rule_field(request.form, prefix)
    warnings = [] if errors else _warnings(rule)
    return render_template("rules/_errors.html", errors=errors, warnings=warnings, ok=not errors)


# ------------------------------------------------------------------ preview

@bp.post("/preview")
def preview():
    """Live recipient preview: count, distinct accounts, the first 20 matches."""
    from engine.rules import RuleError, preview as run_preview, rule_fields_used

    prefix = _prefix(request.form)
    rule, errors, ignored = _live_rule(request.form, prefix)
    result, fields = None, []
    if not errors:
        try:
            result = run_preview(rule, utcnow(), PREVIEW_LIMIT)
            fields = rule_fields_used(rule)
        except RuleError as exc:
            errors = exc.errors
        except SQLAlchemyError:
            db.session.rollback()
            log.exception("preview failed for rule %s", rule)
            errors = EVALUATION_FAILED
    labels = {item["path"]: item["label"] for item in _catalog()} if fields else {}
    return render_template(
        "rules/_preview.html", result=result, errors=errors, fields=fields, field_labels=labels,
        warnings=[] if errors else _warnings(rule),
        rule_text=json.dumps(rule, separators=(",", ":")) if result is not None else "",
        user_types_empty=isinstance(rule, dict) and rule.get("user_types") == [],
        ignored=ignored, held_labels=HELD_LABELS,
    )


def _live_rule(form, prefix):
    """(rule, errors, ignored paths) for the live preview and the explainer: the
    rule as written minus its half-typed conditions (engine.rules.for_live_preview)."""
    from engine.rules import for_live_preview

    rule, errors = read_rule_field(form, prefix)
    if rule is None:
        return rule, errors, []
    stripped, ignored, errors = for_live_preview(rule)
    return stripped, errors, ignored


@bp.post("/explain")
def explain():
    """Why / why not: every condition of the rule evaluated for one contact."""
    from engine.rules import RuleError, explain as run_explain

    prefix = _prefix(request.form)
    needle = (request.form.get("rb_explain") or "").strip()
    if not needle:
        return render_template("rules/_explain.html", result=None, contact=None, needle="")
    contacts = db.session.scalars(
        select(Contact).where(or_(func.lower(Contact.email) == needle.lower(),
                                  Contact.external_id == needle)).order_by(Contact.id).limit(2)
    ).all()
    ctx = {"needle": needle, "contact": contacts[0] if contacts else None,
           "shared": len(contacts) > 1, "result": None, "errors": []}
    if contacts:
        rule, errors, ctx["ignored"] = _live_rule(request.form, prefix)
        ctx["errors"] = errors
        if not errors:
            try:
                ctx["result"] = run_explain(rule, contacts[0].id, utcnow())
            except RuleError as exc:
                ctx["errors"] = exc.errors
            except (LookupError, SQLAlchemyError):
                db.session.rollback()
                log.exception("explain failed")
                ctx["errors"] = EVALUATION_FAILED
    return render_template("rules/_explain.html", **ctx)


@bp.get("/matches")
def matches():
    """Every contact a rule matches right now, paginated (linked from the preview)."""
    from engine.rules import RuleError, matching_contacts_select, parse_rule, rule_fields_used
    from engine.rules.suppression import held_back_counts

    text = request.args.get("rule", "")
    try:
        rule = json.loads(text)
        parse_rule(rule)
    except (ValueError, TypeError, RecursionError):  # RuleError is a ValueError
        abort(404)
    try:
        hits = matching_contacts_select(rule, utcnow()).subquery("hits")
        matches = paginate(
            select(Contact).join(hits, hits.c.contact_id == Contact.id)
            .options(joinedload(Contact.account, innerjoin=True)).order_by(Contact.id),
            *page_args(50))
        accounts = db.session.scalar(select(func.count(func.distinct(hits.c.account_id))))
        held_back = held_back_counts(select(hits.c.contact_id))
    except (RuleError, SQLAlchemyError):
        db.session.rollback()
        log.exception("match list failed")
        abort(404)
    fields = rule_fields_used(rule)
    items = [{"contact": c, "account": c.account, "fields": field_values(c, c.account, fields)}
             for c in matches.items]
    tree = rule_to_tree(rule)
    catalog = _catalog()
    return render_page("rules/matches.html", "rules/_matches_table.html", items=items,
                       matches=matches, accounts=accounts, held_back=held_back,
                       held_total=sum(held_back.values()), held_labels=HELD_LABELS,
                       fields=fields, rule_text=text, rule=rule, user_type_labels=USER_TYPE_LABELS,
                       field_labels={i["path"]: i["label"] for i in catalog},
                       tree=tree_view(tree, catalog_index(catalog)))


def _catalog():
    from engine.rules import field_catalog

    return field_catalog()


def _warnings(rule) -> list[str]:
    from engine.rules import rule_warnings

    try:
        return rule_warnings(rule)
    except SQLAlchemyError:
        db.session.rollback()
        return []


bp.add_app_template_filter(show, "rule_value")


@bp.get("/triggers/<int:trigger_id>/explain")
def trigger_explain(trigger_id):
    """The trigger details page's why / why not: one contact (email or external id)
    against the trigger's audience. Read-only, every signed-in role."""
    from blueprints.rules.panels import check_contact
    from models import Trigger

    trigger = db.get_or_404(Trigger, trigger_id)
    needle = (request.args.get("contact") or "").strip()[:320]
    ctx = {"trigger": trigger, "needle": needle, "contact": None, "check": None, "error": None,
           "held_labels": HELD_LABELS}
    if needle:
        contact = db.session.scalars(
            select(Contact).where(or_(func.lower(Contact.email) == needle.lower(),
                                      Contact.external_id == needle)).order_by(Contact.id).limit(1)
        ).first()
        ctx["contact"] = contact
        if contact is not None:
            ctx.update(check_contact(contact.id, "trigger", trigger))
    return render_page("rules/trigger_explain.html", "rules/_trigger_explain_result.html", **ctx)
