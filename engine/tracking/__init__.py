"""Open/click/unsubscribe tracking: signed tokens, link rewriting, the events they record.

Tokens are itsdangerous signatures with a separate salt per purpose, so an open
token can never be replayed as an unsubscribe token. A click token carries
(message id, link index) -- never a URL -- and the redirect target is re-derived
from the message's stored HTML, so a token can only lead to a link that message
really had (no open redirect, whatever the token says).

Tokens and URLs live in engine/tracking/tokens.py (re-exported here).

The record_* functions and unsubscribe() do not commit: the view does.

OutboxMessage.html holds the rendered HTML *before* instrumenting; the mailer
calls instrument_html() at send time. Link numbering counts every <a href> in
document order (also the ones we leave alone), so the numbering used when
sending and when redirecting is the same.
"""
from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from html import escape
from html.parser import HTMLParser
from urllib.parse import urlsplit

from sqlalchemy import select, update

from engine.tracking.tokens import (  # noqa: F401 - re-exported: tokens and URLs are part of tracking
    SALTS, click_token, click_url, open_token, open_url, public_base_url, read_click_token,
    read_open_token, read_unsubscribe_token, unsubscribe_token, unsubscribe_url)
from extensions import db
from models import Contact, DeliveryEvent, OutboxMessage, Trigger

TRACKED_SCHEMES = ("http", "https", "mailto")
# Browsers drop tabs/newlines anywhere in a URL and trim C0 controls and spaces
# at both ends ("java\tscript:" is javascript:), so judge the URL the way they will.
_URL_NOISE = re.compile(r"[\t\n\r]")
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))
_NEWLINE = re.compile("\n")


# --- links ------------------------------------------------------------------

class _AnchorFinder(HTMLParser):
    """Collects every <a> start tag that has an href, with where it sits in the source.

    A real parser, not a regex: an "<a href>" inside an attribute value, a
    comment or a <script> is not a link and is neither counted nor rewritten.
    """

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.anchors: list[dict] = []

    def handle_starttag(self, tag, attrs):
        self._anchor(tag, attrs, self_closing=False)

    def handle_startendtag(self, tag, attrs):
        self._anchor(tag, attrs, self_closing=True)

    def _anchor(self, tag, attrs, self_closing):
        if tag != "a" or not any(name == "href" for name, _ in attrs):
            return
        href = next(value for name, value in attrs if name == "href") or ""
        self.anchors.append({
            "pos": self.getpos(), "raw": self.get_starttag_text() or "",
            "attrs": attrs, "href": href, "self_closing": self_closing,
        })


def _anchors(html: str) -> list[dict]:
    finder = _AnchorFinder()
    finder.feed(html or "")
    finder.close()
    return finder.anchors


def _clean_url(href: str) -> str:
    return _URL_NOISE.sub("", href or "").strip(_C0_AND_SPACE)


def trackable(href: str) -> bool:
    """True for absolute http(s) URLs with a host and for mailto: -- nothing else.

    javascript:, data:, vbscript:, relative paths and protocol-relative
    //host URLs are never redirected to.
    """
    url = _clean_url(href)
    if not url or "\\" in url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        return bool(parts.netloc) and bool(parts.hostname)
    return scheme == "mailto" and bool(parts.path)


def links(html: str) -> list[str]:
    """Every <a href> of the HTML in document order (the numbering click tokens use)."""
    return [a["href"] for a in _anchors(html)]


def original_link(html_or_message, n: int) -> str | None:
    """The n-th link of a message's stored HTML, or None if there is no such
    link or it is not one we redirect to (javascript:, data:, //host, ...).

    Accepts the HTML itself or anything with an .html attribute (an OutboxMessage).
    """
    html = getattr(html_or_message, "html", html_or_message)
    if not isinstance(html, str) or type(n) is not int or n < 0:
        return None
    hrefs = links(html)
    if n >= len(hrefs) or not trackable(hrefs[n]):
        return None
    return _clean_url(hrefs[n])


def _our_own(url: str, base: str) -> bool:
    # Unsubscribe links and already-tracked links point at us: leave them alone.
    return url.startswith(f"{base}/u/") or url.startswith(f"{base}/t/")


def _rebuilt_tag_parts(anchor: dict) -> tuple[str, str]:
    """The anchor's start tag rebuilt around its (first) href value: (before, after),
    so the tag with a new href is before + escape(href) + after."""
    parts, seen_href = ["<a"], False
    for name, value in anchor["attrs"]:
        if name == "href":
            if seen_href:  # browsers use the first href; drop the rest
                continue
            seen_href = True
            parts.append(' href="')
            before, parts = "".join(parts), ['"']
            continue
        parts.append(f" {name}" if value is None else f' {name}="{escape(value, quote=True)}"')
    parts.append(" />" if anchor["self_closing"] else ">")
    return before, "".join(parts)


def _line_starts(html: str) -> list[int]:
    return [0] + [m.end() for m in _NEWLINE.finditer(html)]


@lru_cache(maxsize=16)
def _link_plan(html: str, base: str) -> tuple:
    """How to instrument this HTML: the literal pieces between the links we rewrite
    and, for each such link, (link index, tag before the href value, tag after it).
    A pure function of (html, base), cached: a trigger whose HTML is the same for
    many recipients is parsed once, not once per message."""
    starts = _line_starts(html)
    pieces, slots, cursor = [], [], 0
    for index, anchor in enumerate(_anchors(html)):
        url = _clean_url(anchor["href"])
        if not trackable(url) or _our_own(url, base):
            continue
        line, col = anchor["pos"]
        begin = starts[line - 1] + col
        end = begin + len(anchor["raw"])
        if html[begin:end] != anchor["raw"]:  # never guess: leave the tag untouched
            continue
        pieces.append(html[cursor:begin])
        slots.append((index, *_rebuilt_tag_parts(anchor)))
        cursor = end
    pieces.append(html[cursor:])
    return tuple(pieces), tuple(slots)


def instrument_html(html: str, message_id: int, base_url: str | None = None, *,
                    opens: bool = True, clicks: bool = True) -> str:
    """Rewrite each trackable <a href> to its click URL (clicks) and add the 1x1
    open pixel (opens)."""
    if not html:
        return html or ""
    base = public_base_url(base_url)
    result = _with_click_urls(html, message_id, base) if clicks else html
    if not opens:
        return result
    pixel = _open_beacon(open_url(message_id, base), result)
    closing = result.lower().rfind("</body>")
    if closing == -1:
        return result + pixel
    return result[:closing] + pixel + result[closing:]


_HAS_IMAGE = re.compile(r"<img\b", re.IGNORECASE)


def _open_beacon(url: str, html: str) -> str:
    """The open pixel: an <img> when the email has images of its own; otherwise a
    1x1 CSS background, because spam filters score any <img> in a short HTML
    email as an image-only message (SpamAssassin's HTML_IMAGE_ONLY_*), and an
    email with no picture must not become one because of the pixel. (Clients
    that skip CSS backgrounds, such as desktop Outlook, then count the open at
    the first click.)"""
    src = escape(url, quote=True)
    if _HAS_IMAGE.search(html):
        return (f'<img src="{src}" width="1" height="1" alt="" '
                'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0">')
    return (f'<div style="background-image:url(\'{src}\');background-repeat:no-repeat;'
            'width:1px;height:1px;font-size:1px;line-height:1px;overflow:hidden">&nbsp;</div>')


def _with_click_urls(html: str, message_id: int, base: str) -> str:
    pieces, slots = _link_plan(html, base)
    out = [pieces[0]]
    for (index, before, after), piece in zip(slots, pieces[1:]):
        out += [before, escape(click_url(message_id, index, base), quote=True), after, piece]
    return "".join(out)


# --- events -----------------------------------------------------------------

def _message_keys(message_id: int):
    return db.session.execute(
        select(OutboxMessage.id, OutboxMessage.trigger_id, OutboxMessage.contact_id)
        .where(OutboxMessage.id == message_id)
    ).first()


def _event(keys, kind: str, now: datetime, detail: str | None = None) -> None:
    db.session.add(DeliveryEvent(
        message_id=keys.id, trigger_id=keys.trigger_id, contact_id=keys.contact_id,
        kind=kind, at=now, detail=detail,
    ))


def _has_event(message_id: int, kind: str) -> bool:
    return db.session.execute(
        select(DeliveryEvent.id).where(
            DeliveryEvent.message_id == message_id, DeliveryEvent.kind == kind
        ).limit(1)
    ).first() is not None


def record_open(message_id: int, now: datetime) -> bool:
    """Write an "opened" event; False if the message does not exist."""
    keys = _message_keys(message_id)
    if keys is None:
        return False
    _event(keys, "opened", now)
    return True


def record_click(message_id: int, link_index: int, now: datetime) -> str | None:
    """Write a "clicked" event (detail = the URL) and return where to redirect.

    None when the message or its n-th link does not exist or is not redirectable.
    A click proves the email was opened even when images were blocked, so a
    first click also records an open (click-through rate stays <= 100%).
    """
    message = db.session.execute(
        select(OutboxMessage.id, OutboxMessage.trigger_id, OutboxMessage.contact_id,
               OutboxMessage.html).where(OutboxMessage.id == message_id)
    ).first()
    if message is None:
        return None
    url = original_link(message.html or "", link_index)
    if url is None:
        return None
    if not _has_event(message.id, "opened"):
        _event(message, "opened", now)
    _event(message, "clicked", now, detail=url)
    return url


def recipient(message_id: int) -> dict | None:
    """Who a message went to, for the public unsubscribe pages."""
    row = db.session.execute(
        select(Contact.email, Contact.unsubscribed_at, Trigger.from_email)
        .join(OutboxMessage, OutboxMessage.contact_id == Contact.id)
        .join(Trigger, Trigger.id == OutboxMessage.trigger_id)
        .where(OutboxMessage.id == message_id)
    ).first()
    if row is None:
        return None
    return {"email": row.email, "unsubscribed_at": row.unsubscribed_at,
            "sender": row.from_email or ""}


def unsubscribe(message_id: int, now: datetime, detail: str | None = None) -> bool | None:
    """Unsubscribe the message's contact; idempotent.

    `detail` is the event's reason when it was not the link: "complaint" for a
    spam complaint (engine/bounces/records.py).
    True when this call unsubscribed them (an "unsubscribed" event is written),
    False when they already were, None when the message does not exist.
    """
    keys = _message_keys(message_id)
    if keys is None:
        return None
    # Conditional UPDATE: two concurrent clicks unsubscribe (and log) once.
    changed = db.session.execute(
        update(Contact)
        .where(Contact.id == keys.contact_id, Contact.unsubscribed_at.is_(None))
        .values(unsubscribed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed:
        _event(keys, "unsubscribed", now, detail=detail)
        from engine.contacts.changes import insert_field_changes

        # The contact did it themselves (a link, or a complaint to their mailbox
        # provider); same transaction as the UPDATE above.
        insert_field_changes([(keys.contact_id, "contact.unsubscribed_at", None, now)],
                             source="contact", actor=detail or "unsubscribe link", at=now)
        from engine.outbox import suppress_for_unsubscribe

        suppress_for_unsubscribe(keys.contact_id, now)
    return bool(changed)
