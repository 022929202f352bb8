"""The DSN corpus (tests/data/bounces/): real MTA formats, each attributed to the
right outbox message and classed hard or soft -- or recognised as no bounce.

The files carry placeholders the test fills, because the signing key (and so
the VERP token) and the outbox ids differ per run: {{VERP}} the message's return
path, {{MESSAGE_ID}} its Message-ID, {{RCPT}} the address it went to,
{{FORGED_VERP}} a VERP address with a wrong signature."""
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from engine.bounces import verp
from engine.bounces.dsn import parse_dsn
from engine.sending.mime import message_id_for

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bounces"
NOW = datetime(2026, 12, 3, 9, 0)
DOMAIN = "bounces.acme.io"
RCPT = "ann.example@example.net"

# file -> (how it is attributed, kind); kind None = not a bounce, nothing recorded.
# "verp": the envelope recipient / To is the VERP address; "message_id": only the
# quoted original Message-ID names the message; "address": only the failed
# address does (the latest message sent to it).
EXPECTED = {
    "postfix_user_unknown.eml": ("verp", "hard"),
    "postfix_delayed_mailbox_full.eml": ("verp", "soft"),
    "postfix_two_recipients.eml": ("address", "hard"),
    "exim_unrouteable.eml": ("verp", "hard"),
    "exim_no_verp_inline_headers.eml": ("message_id", "hard"),
    "exim_delay_warning.eml": ("verp", "soft"),
    "exchange_2016_5_1_10.eml": ("message_id", "hard"),
    "office365_5_4_1.eml": ("verp", "hard"),
    "microsoft_exchange_2003_nonrfc.eml": ("address", "hard"),
    "gmail_user_unknown.eml": ("message_id", "hard"),
    "gmail_over_quota.eml": ("address", "soft"),
    "yahoo_failure_notice.eml": ("address", "hard"),
    "yahoo_dsn_5_0_0.eml": ("verp", "hard"),
    "outlook_com_5_5_0.eml": ("verp", "hard"),
    "sendmail_user_unknown.eml": ("message_id", "hard"),
    "qmail_no_mailbox.eml": ("address", "hard"),
    "amazon_ses_dsn.eml": ("verp", "hard"),
    "mangled_verp_only.eml": ("verp", "hard"),
    "soft_delay_4_4_7.eml": ("verp", "soft"),
    "gmx_mailbox_full_rfc822_headers.eml": ("message_id", "soft"),
    "success_delivered_dsn.eml": ("verp", None),
    "autoreply_out_of_office.eml": ("verp", None),
    "autoreply_vacation_no_headers.eml": ("verp", None),
    "forged_verp.eml": ("forged", None),
}


def test_the_corpus_is_complete():
    files = {p.name for p in CORPUS.glob("*.eml")}
    assert files == set(EXPECTED) and len(files) >= 20


def _fill(name, *, target, secret, config):
    text = (CORPUS / name).read_text()
    real = verp.return_path(target.id, domain=DOMAIN, secret=secret)
    forged = verp.return_path(target.id, domain=DOMAIN, secret="someone-elses-key")
    for key, value in {"{{VERP}}": real, "{{FORGED_VERP}}": forged, "{{RCPT}}": RCPT,
                       "{{MESSAGE_ID}}": message_id_for(target.id, config)}.items():
        text = text.replace(key, value)
    assert "{{" not in text
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8"), real, forged


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_bounce_is_attributed_to_its_message_and_classed(app, make, name):
    how, kind = EXPECTED[name]
    secret = app.config["SECRET_KEY"]
    contact = make.contact(email=RCPT)
    # An older message to the same address: the address rule must pick the latest.
    make.outbox_message(contact=contact, state="sent", sent_at=NOW - timedelta(days=3))
    target = make.outbox_message(contact=contact, state="sent", sent_at=NOW)
    if how in ("verp", "message_id", "forged"):
        # A later one too: only the VERP token or the Message-ID can name the target.
        make.outbox_message(contact=contact, state="sent", sent_at=NOW + timedelta(hours=1))
    raw, real, forged = _fill(name, target=target, secret=secret, config=app.config)
    envelope = {"verp": real, "forged": forged}.get(how)
    found = parse_dsn(raw, envelope_recipient=envelope, secret=secret)
    if kind is None:
        assert found == []
        return
    assert len(found) == 1, found
    bounce = found[0]
    assert (bounce.message_id, bounce.kind) == (target.id, kind)
    assert bounce.dedupe_key
    if name != "mangled_verp_only.eml":
        assert bounce.status or bounce.reason


def test_the_diagnostic_and_the_dsn_message_id_are_kept(app, make):
    secret = app.config["SECRET_KEY"]
    contact = make.contact(email=RCPT)
    target = make.outbox_message(contact=contact, state="sent", sent_at=NOW)
    raw, real, _ = _fill("postfix_user_unknown.eml", target=target, secret=secret, config=app.config)
    [bounce] = parse_dsn(raw, envelope_recipient=real, secret=secret)
    assert bounce.status == "5.1.1"
    assert bounce.reason.startswith(f"smtp; 550 5.1.1 <{RCPT}>: Recipient address rejected")
    assert bounce.dedupe_key == "<20261203091204.4QxK1S2Zr9z9sRk@mail.sender-mta.example>"


def test_a_quoted_message_id_of_another_address_is_not_trusted(app, make):
    secret = app.config["SECRET_KEY"]
    other = make.outbox_message(contact=make.contact(email="bob@example.org"), state="sent",
                                sent_at=NOW)
    raw, _, _ = _fill("gmail_user_unknown.eml", target=other, secret=secret, config=app.config)
    # The DSN says RCPT failed but quotes bob's message: nothing is attributed to bob.
    assert parse_dsn(raw, secret=secret) == []


def test_a_message_without_a_message_id_gets_a_content_hash_key(app, make):
    secret = app.config["SECRET_KEY"]
    target = make.outbox_message(contact=make.contact(email=RCPT), state="sent", sent_at=NOW)
    raw, real, _ = _fill("mangled_verp_only.eml", target=target, secret=secret, config=app.config)
    [bounce] = parse_dsn(raw, envelope_recipient=real, secret=secret)
    assert bounce.dedupe_key.startswith("sha256:")
    assert parse_dsn(raw, envelope_recipient=real, secret=secret)[0].dedupe_key == bounce.dedupe_key
