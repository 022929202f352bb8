"""List conditions ({"list": <id>, "op": "member" | "not_member"}): which lists a
rule may name. The parser checks every list id of a rule with ONE look-up here, so
an unknown id is refused with its node's path wherever a rule is validated
(saving, the live preview, the preview, triggers and personas APIs)."""
from __future__ import annotations

from sqlalchemy import select


def list_names(ids) -> dict[int, str]:
    """{id: name} of the lists among `ids` that exist (needs an app context)."""
    from extensions import db
    from models import ContactList

    ids = list(ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(ContactList.id, ContactList.name).where(ContactList.id.in_(ids))).all()
    return {row.id: row.name for row in rows}


def list_ids_used(rule) -> list[int]:
    """The list ids a rule's conditions name (in order, no duplicates), without
    checking that they exist -- e.g. to find the rules that use a list before
    deleting it. Anything that is not a rule gives []."""
    found: list[int] = []

    def visit(node):
        if isinstance(node, list):
            for item in node:
                visit(item)
        elif isinstance(node, dict):
            if "list" in node and isinstance(node["list"], int) and not isinstance(node["list"], bool):
                found.append(node["list"])
            for key in ("all", "any", "not"):
                if key in node:
                    visit(node[key])

    try:
        visit(rule)
    except RecursionError:
        return []
    return list(dict.fromkeys(found))
