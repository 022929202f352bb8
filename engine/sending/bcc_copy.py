"""The BCC recipients' own copy of a sent message (DESIGN.md "Email headers").

The contact's message carries their one-click unsubscribe, tracked links and
open pixel; a BCC mailbox (its link scanner, its reader) must never act as the
contact. So a BCC gets a separate message: plain links, no pixel, no
List-Unsubscribe and none of the contact's unsubscribe links in the body, its
own Message-ID, marked as a copy in the subject, a header and a first line.
The send loop sends it in a transaction of its own after the contact's
(engine/sending/loop.py).
"""
import re
from html import escape

from engine import tracking
from engine.render import html_to_text
from engine.render.document import as_document
from engine.sending import dkim_sign
from engine.sending.mime import as_bytes, build_message, message_id_domain, message_id_for

COPY_NOTE = "Copy of the email sent to {to}. Links are not tracked and the unsubscribe link is removed."
REMOVED_UNSUBSCRIBE = "#unsubscribe-link-removed-from-copy"


def _without_unsubscribe_links(value: str, config) -> str:
    """The contact's unsubscribe URLs (PUBLIC_BASE_URL/u/...) replaced by a dead anchor."""
    base = tracking.public_base_url(config.get("PUBLIC_BASE_URL", ""))
    return re.sub(re.escape(base) + r"/u/[^\s\"'<>()]*", REMOVED_UNSUBSCRIBE, value or "")


def _html_with_note(html: str, note: str) -> str:
    if not html:
        return html
    line = (f'<p style="margin:0 0 12px;padding:8px;border:1px solid #d5d9e2;font:13px sans-serif;'
            f'color:#4a5068">{escape(note)}</p>')
    body = re.search(r"<body\b[^>]*>", html, re.IGNORECASE)
    return html[:body.end()] + line + html[body.end():] if body else line + html


def copy_message_bytes(fields, trigger, *, config) -> bytes:
    """What a BCC recipient gets for one outbox row (`fields`: a dict or row mapping
    with id, to_email, subject, html, text)."""
    outbox_id, to = fields.get("id"), fields.get("to_email") or ""
    note = COPY_NOTE.format(to=to)
    html = _without_unsubscribe_links(fields.get("html") or "", config)
    text = _without_unsubscribe_links(fields.get("text") or (html_to_text(html) if html else ""), config)
    copy = {"id": None, "to_email": to, "subject": fields.get("subject"),
            "html": _html_with_note(as_document(html), note), "text": f"{note}\n\n{text}"}
    domain = message_id_domain(config)
    msg = build_message(copy, trigger, config=config, subject_prefix=f"[Copy for {to}] ",
                        message_id=f"<nudge-{outbox_id}-copy@{domain}>", track=False)
    msg["X-Nudge-Copy-Of"] = message_id_for(outbox_id, config)
    return dkim_sign.sign(as_bytes(msg), config)
