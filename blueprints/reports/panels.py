"""The account's Communications tab and the contact's email history (accounts pages)."""
from sqlalchemy import case, func, select

from blueprints.accounts.panels import account_tab, contact_section
from extensions import db
from models import Communication, DeliveryEvent, OutboxMessage, Trigger

PER_PAGE = 25
CATEGORIES = ("Emails",)


def _page(args, name="page") -> int:
    try:
        return min(max(1, int(args.get(name, 1))), 10**9)  # OFFSET must stay a 64-bit integer
    except (TypeError, ValueError):
        return 1


def _count_communications(account) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Communication).where(Communication.account_id == account.id))


@account_tab("communications", "Communications", "reports/_account_communications.html", order=30,
             count=_count_communications)
def communications_tab(account, args):
    """One row per (account, trigger, day), as the engine logs it when it sends."""
    category = args.get("category", "Emails")
    page = _page(args)
    where = [Communication.account_id == account.id]
    if category in CATEGORIES:
        where.append(Communication.category == category)
    total = db.session.scalar(select(func.count()).select_from(Communication).where(*where))
    rows = db.session.execute(
        select(Communication, Trigger.name)
        .outerjoin(Trigger, Trigger.id == Communication.trigger_id)
        .where(*where)
        .order_by(Communication.day.desc(), Communication.id.desc())
        .limit(PER_PAGE).offset((page - 1) * PER_PAGE)
    ).all()
    return {"rows": rows, "total": total, "page": page, "per_page": PER_PAGE,
            "category": category, "categories": CATEGORIES}


@contact_section("emails", "Emails", "reports/_contact_emails.html", order=40)
def emails_section(contact, args):
    """Every message generated for this contact, with its state and opens/clicks."""
    page = _page(args, "emails_page")
    total = db.session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.contact_id == contact.id))
    messages = db.session.execute(
        select(OutboxMessage, Trigger.name)
        .join(Trigger, Trigger.id == OutboxMessage.trigger_id)
        .where(OutboxMessage.contact_id == contact.id)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(PER_PAGE).offset((page - 1) * PER_PAGE)
    ).all()
    ids = [m.id for m, _ in messages]
    engagement = {}
    if ids:
        ev = DeliveryEvent
        engagement = {
            row.message_id: row for row in db.session.execute(
                select(ev.message_id,
                       func.sum(case((ev.kind == "opened", 1), else_=0)).label("opens"),
                       func.sum(case((ev.kind == "clicked", 1), else_=0)).label("clicks"),
                       func.max(case((ev.kind == "opened", ev.at))).label("last_open"),
                       func.max(case((ev.kind == "clicked", ev.at))).label("last_click"))
                .where(ev.message_id.in_(ids)).group_by(ev.message_id))
        }
    sent = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.contact_id == contact.id, OutboxMessage.state == "sent"))
    return {"messages": messages, "engagement": engagement, "total": total, "page": page,
            "per_page": PER_PAGE, "summary": f"{sent} sent of {total}" if total else None}
