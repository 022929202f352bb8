"""IMAP polling of a bounce mailbox (BOUNCE_IMAP_URL, e.g.
imaps://user:pass@host:993/INBOX), with the standard library's imaplib: the
alternative to running the SMTP listener, for a domain whose MX is a mail host.

bounce_imap_step is a tick step and an orchestrator: it commits each message's
records on their own, and only then flags that message \\Deleted (expunged at
the end of the poll), so a crash between the two leaves the message to be read
again -- and recorded once, records being idempotent. A message that is no bounce
of ours is left in the mailbox, read (IMAP's \\Seen: the poll reads only unseen
ones), or moved to BOUNCE_IMAP_UNPARSED_FOLDER when that is set; one whose record
could not be committed is marked unseen again for the next tick.
"""
from __future__ import annotations

import imaplib
import logging
from datetime import datetime
from urllib.parse import unquote, urlsplit

from engine.bounces.intake import record_dsn
from extensions import db

log = logging.getLogger(__name__)
POLL_LIMIT = 500  # messages per tick: a flood of DSNs is read over a few ticks
TIMEOUT_SECONDS = 30


def connect(url: str):
    """A logged-in, selected imaplib connection for an imap:// or imaps:// URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname:
        raise ValueError("BOUNCE_IMAP_URL must look like imaps://user:password@host:993/INBOX")
    if parts.scheme == "imaps":
        conn = imaplib.IMAP4_SSL(parts.hostname, parts.port or 993, timeout=TIMEOUT_SECONDS)
    else:
        conn = imaplib.IMAP4(parts.hostname, parts.port or 143, timeout=TIMEOUT_SECONDS)
    conn.login(unquote(parts.username or ""), unquote(parts.password or ""))
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    typ, data = conn.select(_mailbox(folder))
    if typ != "OK":
        conn.logout()
        raise RuntimeError(f"cannot open the mailbox {folder!r}: {data}")
    return conn


def _mailbox(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _raw(data) -> bytes | None:
    for part in data or []:
        if isinstance(part, tuple) and len(part) > 1 and isinstance(part[1], bytes):
            return part[1]
    return None


def poll_mailbox(conn, *, secret, now: datetime, unparsed_folder: str = "",
                 limit: int = POLL_LIMIT) -> dict:
    """Read the unseen messages of a selected mailbox, record each DSN, delete the
    recorded ones. Commits per message. Returns the counts."""
    stats = {"read": 0, "recorded": 0, "deleted": 0, "left": 0, "moved": 0, "errors": 0}
    typ, data = conn.uid("SEARCH", None, "UNSEEN")
    uids = (data[0] or b"").split() if typ == "OK" and data else []
    for uid in uids[:limit]:
        uid = uid.decode("ascii")
        typ, fetched = conn.uid("FETCH", uid, "(RFC822)")
        raw = _raw(fetched) if typ == "OK" else None
        if raw is None:
            continue
        stats["read"] += 1
        try:
            intake = record_dsn(raw, envelope_recipient=None, secret=secret, now=now)
            db.session.commit()
        except Exception:  # noqa: BLE001 - left for the next tick, the others go on
            db.session.rollback()
            log.exception("could not record IMAP message %s; left for the next poll", uid)
            conn.uid("STORE", uid, "-FLAGS", "(\\Seen)")
            stats["errors"] += 1
            continue
        stats["recorded"] += len(intake.recorded)
        if intake.parsed:  # committed: now it may go
            conn.uid("STORE", uid, "+FLAGS", "(\\Deleted)")
            stats["deleted"] += 1
        elif unparsed_folder:
            typ, _ = conn.uid("COPY", uid, _mailbox(unparsed_folder))
            if typ == "OK":
                conn.uid("STORE", uid, "+FLAGS", "(\\Deleted)")
                stats["moved"] += 1
            log.info("IMAP message %s is no bounce of ours: moved to %s", uid, unparsed_folder)
        else:
            log.info("IMAP message %s is no bounce of ours: left in the mailbox", uid)
            stats["left"] += 1
    if stats["deleted"] or stats["moved"]:
        conn.expunge()
    return stats


def bounce_imap_step(now: datetime) -> dict:
    """The tick step: poll BOUNCE_IMAP_URL when it is set (an orchestrator: commits)."""
    from flask import current_app

    config = current_app.config
    url = (config.get("BOUNCE_IMAP_URL") or "").strip()
    if not url:
        return {"polled": False}
    try:
        conn = connect(url)
    except Exception as exc:  # noqa: BLE001 - the mailbox is down: the next tick tries again
        log.warning("bounce mailbox not polled: %s", exc)
        return {"polled": False, "error": str(exc)[:300]}
    try:
        return {"polled": True, **poll_mailbox(
            conn, secret=config["SECRET_KEY"], now=now,
            unparsed_folder=(config.get("BOUNCE_IMAP_UNPARSED_FOLDER") or "").strip())}
    finally:
        try:
            conn.logout()
        except Exception:  # noqa: BLE001 - the work is committed; a lost goodbye is no error
            pass
