"""IMAP polling of a bounce mailbox (engine/bounces/imap.py) against a real socket
IMAP server (tests/imap_server.py) through imaplib: recorded messages deleted
only after their commit, non-bounces left or moved, a failed record kept."""
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import pytest

from engine.bounces import verp
from engine.bounces.imap import bounce_imap_step
from engine.sending.mime import message_id_for
from extensions import db
from models.bounce import BounceRecord
from tests.imap_server import FakeImapServer, Mailbox

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bounces"
NOW = datetime(2026, 12, 3, 12, 0)
RCPT = "ann.example@example.net"


def _dsn(name, message, app):
    address = verp.return_path(message.id, domain="bounces.acme.io", secret=app.config["SECRET_KEY"])
    text = ((CORPUS / name).read_text().replace("{{VERP}}", address).replace("{{RCPT}}", RCPT)
            .replace("{{MESSAGE_ID}}", message_id_for(message.id, app.config)))
    return text.replace("\n", "\r\n").encode()


@pytest.fixture
def mailbox(app):
    box = Mailbox()
    with FakeImapServer(box) as server:
        app.config.update(BOUNCE_IMAP_URL=f"imap://{box.user}:{quote(box.password)}"
                                          f"@127.0.0.1:{server.port}/INBOX")
        yield box


def test_recorded_dsns_are_deleted_after_commit_and_others_left(app, make, mailbox):
    message = make.outbox_message(contact=make.contact(email=RCPT), state="sent", sent_at=NOW)
    bounce = mailbox.add(_dsn("postfix_user_unknown.eml", message, app))
    reply = mailbox.add(_dsn("autoreply_out_of_office.eml", message, app))
    summary = bounce_imap_step(NOW)
    assert summary == {"polled": True, "read": 2, "recorded": 1, "deleted": 1, "left": 1,
                       "moved": 0, "errors": 0}
    assert db.session.query(BounceRecord).count() == 1
    assert list(mailbox.messages) == [reply]  # the bounce is expunged, the reply stays (seen)
    assert ("STORE", bounce) in mailbox.log and ("EXPUNGE", bounce) in mailbox.log
    # The next poll reads nothing again.
    assert bounce_imap_step(NOW)["read"] == 0


def test_non_bounces_move_to_the_configured_folder(app, make, mailbox):
    app.config.update(BOUNCE_IMAP_UNPARSED_FOLDER="Not bounces")
    message = make.outbox_message(contact=make.contact(email=RCPT), state="sent", sent_at=NOW)
    mailbox.add(_dsn("autoreply_vacation_no_headers.eml", message, app))
    assert bounce_imap_step(NOW)["moved"] == 1
    assert mailbox.messages == {} and len(mailbox.copied["Not bounces"]) == 1


def test_a_record_that_fails_to_commit_leaves_the_message_for_next_time(app, make, mailbox,
                                                                        monkeypatch):
    import engine.bounces.imap as imap

    message = make.outbox_message(contact=make.contact(email=RCPT), state="sent", sent_at=NOW)
    uid = mailbox.add(_dsn("postfix_user_unknown.eml", message, app))

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(imap, "record_dsn", broken)
    assert bounce_imap_step(NOW)["errors"] == 1
    assert "\\Deleted" not in mailbox.messages[uid]["flags"]
    assert "\\Seen" not in mailbox.messages[uid]["flags"]  # read again next tick
    monkeypatch.undo()
    assert bounce_imap_step(NOW)["deleted"] == 1
    assert db.session.query(BounceRecord).count() == 1


def test_no_mailbox_configured_or_reachable(app):
    app.config.update(BOUNCE_IMAP_URL="")
    assert bounce_imap_step(NOW) == {"polled": False}
    app.config.update(BOUNCE_IMAP_URL="imap://u:p@127.0.0.1:1/INBOX")
    assert bounce_imap_step(NOW)["polled"] is False
