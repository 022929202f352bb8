"""Demo lists: three hand-kept lists with members added (and a few removed) over the
story's days, through engine.contacts.lists like any other caller, so the Lists pages,
the contact pages and each list's history show something real (source "demo")."""
from datetime import datetime, timedelta

from sqlalchemy import select

from engine.contacts import lists as engine
from extensions import db
from models import Account, Contact

# (name, who: a select of candidate contact ids, how many)
LISTS = (
    ("Webinar — March", "product_users", 42),
    ("Beta group", "admins", 24),
    ("Churned accounts' champions", "churned_owners", 14),
)


def _candidates(kind: str) -> list[int]:
    stmt = select(Contact.id).order_by(Contact.id).limit(600)
    if kind == "product_users":
        stmt = stmt.where(Contact.is_product_user.is_(True))
    elif kind == "admins":
        stmt = stmt.where(Contact.role.in_(("admin", "owner")))
    else:
        stmt = stmt.join(Account, Account.id == Contact.account_id).where(
            Account.status == "churned", Contact.role.in_(("admin", "owner", "manager")))
    return list(db.session.scalars(stmt))


def seed_lists(rng, now: datetime, days: int = 14) -> int:
    """Create the demo lists and their history; commits. Returns the members added."""
    added = 0
    start = now - timedelta(days=days)
    for name, kind, size in LISTS:
        pool = _candidates(kind)
        if not pool:
            continue
        made = engine.create_list(name, actor="demo", now=start)
        people = rng.sample(pool, min(size, len(pool)))
        # Members join in a few batches over the days, as a team would add them.
        for i in range(0, len(people), 8):
            at = start + timedelta(days=rng.randint(0, max(days - 1, 0)), hours=rng.randint(8, 17))
            added += engine.add_members(made.id, people[i:i + 8], source="demo", actor="demo", now=at)
        if len(people) > 6:  # and a couple leave again
            engine.remove_members(made.id, people[:2], source="demo", actor="demo", now=now - timedelta(hours=3))
        db.session.commit()
    return added
