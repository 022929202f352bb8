"""Display values of the fields a rule uses, for one page of matched contacts."""
import re
from datetime import date, datetime
from decimal import Decimal

# How previews name what holds matches back (engine/rules/suppression.py codes).
HELD_LABELS = {"unsubscribed": "unsubscribed", "no_email": "no email address",
               "bounced": "email bounced"}
ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def field_values(contact, account, paths: list[str]) -> dict:
    """{path: value} read from already-loaded rows (a page of at most a few hundred)."""
    out = {}
    for path in paths:
        entity, _, rest = path.partition(".")
        row = contact if entity == "contact" else account
        if rest.startswith("attributes."):
            value = (row.attributes or {}).get(rest[len("attributes."):])
        else:
            value = getattr(row, rest, None)
        out[path] = value
    return out


def show(value) -> str:
    """One value as the preview tables show it."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        from blueprints.times import format_datetime  # the product's one format, viewer's zone

        return format_datetime(value)
    if isinstance(value, date):
        from blueprints.times import format_date

        return format_date(value)
    if isinstance(value, (int, float, Decimal)):
        number = float(value)
        return f"{number:,.0f}" if number.is_integer() else f"{number:,.2f}"
    if isinstance(value, str) and ISO_TIME.match(value):
        try:
            return show(datetime.fromisoformat(value))  # to_local converts an offset, if any
        except ValueError:
            return value
    if isinstance(value, (list, dict)):
        import json

        return json.dumps(value, ensure_ascii=False)
    return str(value)
