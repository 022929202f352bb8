"""Delivery status notifications: which message bounced, hard or soft, and why.

A DSN is attributed to an outbox message by, in order of trust:
  (a) the VERP address it was sent to (the envelope recipient, or To /
      Delivered-To / X-Original-To): signed, so it survives any mangling;
  (b) the original message's Message-ID ("<nudge-<id>@...>") in the attached
      message/rfc822 or text/rfc822-headers part (or quoted in the text), when
      the address that failed is the one that message went to;
  (c) the failed address (the RFC 3464 fields or flufl.bounce's detectors, GNU
      Mailman's) and the latest message sent to it.
A message that claims to be for a VERP address whose signature is wrong is
forged: it is ignored whole (and logged by verp.py).

Hard or soft: the DSN Status (5.x.x hard, 4.x.x soft -- except x.2.2 "mailbox
full", which RFC 3463 calls a condition worth retrying: soft); without one,
flufl.bounce's permanent/temporary split, then the diagnostic text. An
auto-reply ("out of office", RFC 3834 Auto-Submitted) is not a bounce.
"""
from __future__ import annotations

import email
import hashlib
import logging
import re
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from typing import NamedTuple

from sqlalchemy import func, select

from engine.bounces import verp
from extensions import db

log = logging.getLogger(__name__)

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_CODE = re.compile(r"(?<![\d.])([45])\d\d(?=[ :-])")
_NUDGE_MESSAGE_ID = re.compile(r"^\s*message-id:\s*(<nudge-\d{1,19}@[^>\s]+>)", re.I | re.M)
_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_SOFT_WORDS = re.compile(r"mailbox (is )?full|over ?quota|quota exceeded|insufficient storage|"
                         r"try again later|temporar|deferred|delayed|greylist", re.I)
_BOUNCE_SENDERS = re.compile(r"mailer-daemon|postmaster|mail delivery (subsystem|system)", re.I)
_BOUNCE_SUBJECTS = re.compile(r"undeliver|delivery (status notification|failure|has failed)|"
                              r"failure notice|returned mail|mail delivery failed|"
                              r"could not be delivered|delivery incomplete|non.?delivery", re.I)
_AUTO_REPLY_SUBJECTS = re.compile(r"out of (the )?office|automatic reply|auto(matic)?[- ]?reply|"
                                  r"autoreply|vacation|abwesenheit", re.I)
_REASON_LIMIT = 2000
_KEY_LIMIT = 200


class ParsedBounce(NamedTuple):
    message_id: int
    kind: str  # hard | soft
    status: str | None
    reason: str | None
    dedupe_key: str


class _Failure(NamedTuple):
    address: str | None
    status: str | None
    action: str | None
    diagnostic: str | None


def parse_dsn(raw_bytes: bytes, *, envelope_recipient: str | None = None,
              secret) -> list[ParsedBounce]:
    """Every failed delivery the message reports, attributed to an outbox message;
    [] for anything else (an auto-reply, a forged VERP token, nothing we sent).
    Reads the outbox (needs an app context) to attribute by Message-ID or address."""
    msg = email.message_from_bytes(raw_bytes, policy=compat32)
    verp_candidates = [envelope_recipient] + _header_addresses(msg)
    verp_candidates = [a for a in verp_candidates if a and verp.is_verp_address(a)]
    verp_id = None
    for address in verp_candidates:
        verp_id = verp.message_id_from_address(address, secret=secret)
        if verp_id is not None:
            break
    if verp_candidates and verp_id is None:
        log.warning("ignoring a message to a forged or malformed VERP address (%s)",
                    ", ".join(verp_candidates))
        return []
    failures, reported = _dsn_failures(msg)
    if reported and not failures:
        return []  # a DSN that reports only successes (delivered, relayed, expanded)
    # Auto-Submitted: auto-replied is on bounces too (Postfix, Exim): only a
    # message that does not come from a mail system is taken for an auto-reply.
    if not failures and _is_auto_reply(msg) and not _looks_like_bounce(msg):
        log.info("ignoring an auto-reply (%s)", _clip(msg.get("Subject"), 80))
        return []
    if not failures:
        failures = _detected_failures(msg)
    if not failures and verp_id is not None and _looks_like_bounce(msg):
        failures = [_text_failure(msg)]  # mangled: only the VERP address says whose it is
    if not failures:
        return []
    key = _dedupe_key(msg, raw_bytes)
    quoted_id = _quoted_message_id(msg)
    out, seen = [], set()
    for failure in failures:
        message_id = verp_id or _by_message_id(quoted_id, failure.address) \
            or _latest_sent_to(failure.address)
        if message_id is None or message_id in seen:
            continue
        seen.add(message_id)
        kind = _kind(failure, msg)
        status = failure.status or _status_in(failure.diagnostic or "")
        reason = _clip(failure.diagnostic, _REASON_LIMIT) or None
        out.append(ParsedBounce(message_id, kind, status, reason, key))
    if len(out) > 1:  # one DSN for several messages: one record each
        out = [b._replace(dedupe_key=_cap(f"{key}#{b.message_id}")) for b in out]
    return out


# --- reading the DSN ----------------------------------------------------------

def _header_addresses(msg: Message) -> list[str]:
    found = []
    for name in ("To", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To"):
        for value in msg.get_all(name) or []:
            found += _ADDRESS.findall(str(value))
    return found


def _fields(block) -> dict:
    return {k.lower(): " ".join(str(v).split()) for k, v in block.items()}


def _dsn_failures(msg: Message) -> tuple[list[_Failure], bool]:
    """The per-recipient blocks of an RFC 3464 message/delivery-status part whose
    Action is failed or delayed (delivered/relayed/expanded are not failures),
    and whether there were any recipient blocks at all."""
    failures, reported = [], False
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        blocks = payload if isinstance(payload, list) else _blocks(str(payload or ""))
        for block in blocks[1:] if len(blocks) > 1 else blocks:
            fields = _fields(block)
            action = (fields.get("action") or "").lower() or None
            reported = reported or bool(action or fields.get("final-recipient"))
            if action and action not in ("failed", "delayed"):
                continue
            recipient = fields.get("final-recipient") or fields.get("original-recipient") or ""
            address = recipient.split(";", 1)[-1].strip().strip("<>") or None
            status = fields.get("status")
            status = _status_in(status) if status else None
            if not (address or status):
                continue
            failures.append(_Failure(address and address.lower(), status, action,
                                     fields.get("diagnostic-code")))
    return failures, reported


def _blocks(text: str) -> list:
    # A delivery-status body the parser left as text: blank-line separated header blocks.
    parser = HeaderParser()
    return [parser.parsestr(chunk.strip() + "\n") for chunk in re.split(r"\r?\n\s*\r?\n", text)
            if chunk.strip()]


def _detected_failures(msg: Message) -> list[_Failure]:
    """flufl.bounce's detectors (non-RFC 3464 formats: qmail, Exim, old Exchange...)."""
    from flufl.bounce import all_failures

    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # noqa: BLE001 - a detector choking on odd input is no bounce
        log.info("flufl.bounce could not read a message", exc_info=True)
        return []
    text = _body_text(msg)
    failures = []
    for addresses, action in ((permanent, "failed"), (temporary, "delayed")):
        for raw in sorted(addresses):
            address = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw).lower()
            failures.append(_Failure(address, None, action, _diagnostic_near(text, address)))
    return failures


def _text_failure(msg: Message) -> _Failure:
    text = _body_text(msg)
    return _Failure(None, _status_in(text), None, _diagnostic_near(text, None))


def _body_text(msg: Message) -> str:
    out = []
    for part in msg.walk():
        if part.get_content_maintype() == "text" and part.get_content_type() != "text/rfc822-headers":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                out.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
        if part.get_content_type() == "message/rfc822":
            break  # the original message is not the diagnosis
    return "\n".join(out)


def _diagnostic_near(text: str, address: str | None) -> str | None:
    """The line(s) that explain the failure: after the address when there is one,
    else the first line carrying an SMTP reply code or status."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    start = None
    if address:
        start = next((i for i, ln in enumerate(lines) if address in ln.lower()), None)
    for line in (lines[start:start + 8] if start is not None else []) + lines:
        if _STATUS.search(line) or _SMTP_CODE.search(line):
            return line
    if start is not None and start + 1 < len(lines):
        return lines[start + 1]  # "Unrouteable address": the line under the address
    return None


def _status_in(text: str) -> str | None:
    match = _STATUS.search(text or "")
    return ".".join(match.groups()) if match else None


def _kind(failure: _Failure, msg: Message) -> str:
    status = failure.status or _status_in(failure.diagnostic or "")
    if status:
        if status.endswith(".2.2"):
            return "soft"  # mailbox full (RFC 3463: worth retrying)
        return "hard" if status.startswith("5") else "soft"
    if failure.action == "delayed":
        return "soft"
    code = _SMTP_CODE.search(failure.diagnostic or "")
    if code:
        return "hard" if code.group(1) == "5" else "soft"
    if _SOFT_WORDS.search(failure.diagnostic or ""):
        return "soft"
    return "hard"


def _is_auto_reply(msg: Message) -> bool:
    auto = (msg.get("Auto-Submitted") or "").lower()
    if auto.startswith("auto-replied"):
        return True
    if msg.get("X-Autoreply") or msg.get("X-Autorespond") or \
            (msg.get("Precedence") or "").lower() == "auto_reply":
        return True
    return bool(_AUTO_REPLY_SUBJECTS.search(str(msg.get("Subject") or "")))


def _looks_like_bounce(msg: Message) -> bool:
    sender = str(msg.get("From") or "") + " " + str(msg.get("Return-Path") or "")
    return bool(_BOUNCE_SENDERS.search(sender) or _BOUNCE_SUBJECTS.search(str(msg.get("Subject") or "")))


def _quoted_message_id(msg: Message) -> int | None:
    """The Message-ID of the original message Nudge sent, as the DSN quotes it."""
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else None
            if isinstance(inner, Message):
                found = verp.message_id_from_header(inner.get("Message-ID"))
                if found is not None:
                    return found
        elif kind in ("text/rfc822-headers", "message/rfc822-headers"):
            payload = part.get_payload(decode=True) or b""
            headers = HeaderParser().parsestr(payload.decode("utf-8", "replace"))
            found = verp.message_id_from_header(headers.get("Message-ID"))
            if found is not None:
                return found
    match = _NUDGE_MESSAGE_ID.search(_body_text(msg))  # quoted inline (qmail, Exim)
    return verp.message_id_from_header(match.group(1)) if match else None


def _dedupe_key(msg: Message, raw: bytes) -> str:
    own = " ".join(str(msg.get("Message-ID") or "").split())
    if own:
        return _cap(own)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _cap(key: str) -> str:
    if len(key) <= _KEY_LIMIT:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def _clip(value, limit: int) -> str:
    return " ".join(str(value or "").split())[:limit]


# --- the outbox ----------------------------------------------------------------

def _by_message_id(message_id: int | None, address: str | None) -> int | None:
    """The quoted message, when it exists and went to the address that failed
    (a DSN naming another address's message is not trusted by its Message-ID)."""
    if message_id is None:
        return None
    from models import OutboxMessage

    row = db.session.execute(select(OutboxMessage.id, OutboxMessage.to_email)
                             .where(OutboxMessage.id == message_id)).first()
    if row is None:
        return None
    if address and (row.to_email or "").strip().lower() != address.lower():
        return None
    return row.id


def _latest_sent_to(address: str | None) -> int | None:
    if not address:
        return None
    from models import OutboxMessage

    return db.session.execute(
        select(OutboxMessage.id)
        .where(func.lower(OutboxMessage.to_email) == address.lower(),
               OutboxMessage.state.in_(("sent", "uncertain")))
        .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc()).limit(1)).scalar()
