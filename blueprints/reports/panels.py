"""The account's Communications tab and the contact's email history (accounts pages)."""
from sqlalchemy import case, func, select
from sqlalchemy.orm import joinedload

from blueprints.accounts.panels import account_tab, contact_section
from blueprints.ui import page_number, paginate
from engine.reports.communications import logged_messages
from extensions import db
from models import Communication, DeliveryEvent, OutboxMessage, Trigger

PER_PAGE = 25
CATEGORIES = ("Emails",)


def _count_communications(account) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Communication).where(Communication.account_id == account.id))


@account_tab("communications", "Communications", "reports/_account_communications.html", order=30,
             count=_count_communications)
def communications_tab(account, args):
    """One row per (account, trigger, day), as the engine logs it when it sends."""
    category = args.get("category", "Emails")
    where = [Communication.account_id == account.id]
    if category in CATEGORIES:
        where.append(Communication.category == category)
    communications = paginate(
        select(Communication).options(joinedload(Communication.trigger).load_only(Trigger.name, Trigger.timezone))
        .where(*where).order_by(Communication.day.desc(), Communication.id.desc()),
        page_number(args), PER_PAGE)
    return {"communications": communications, "category": category, "categories": CATEGORIES,
            "logged": logged_messages(communications.items)}


@contact_section("emails", "Emails", "reports/_contact_emails.html", order=40)
def emails_section(contact, args):
    """Every message generated for this contact, with its state and opens/clicks."""
    messages = paginate(
        select(OutboxMessage)
        .options(joinedload(OutboxMessage.trigger, innerjoin=True).load_only(Trigger.name))
        .where(OutboxMessage.contact_id == contact.id)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()),
        page_number(args, "emails_page"), PER_PAGE)
    ids = [m.id for m in messages.items]
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
    return {"messages": messages, "engagement": engagement,
            "summary": f"{sent} sent of {messages.total}" if messages.total else None}
