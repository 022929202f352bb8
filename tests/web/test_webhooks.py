"""POST /webhooks/<provider>: signatures verified before anything is stored
(401 and no rows otherwise), replays ignored, the same event twice recorded
once, SNS subscription confirmation and the certificate host rule."""
import base64
import json
import time

import pytest

from devtools.webhook_signing import (CERT_URL, TOPIC_ARN, SendGridSigner, SnsSigner, mailgun_signature,
                                      ses_bounce, ses_complaint)
from engine.bounces import verp
from engine.bounces.webhooks import mailgun as mailgun_engine
from engine.bounces.webhooks import ses as ses_engine
from engine.sending.mime import message_id_for
from extensions import db
from models import Contact, DeliveryEvent
from models.base import utcnow
from models.bounce import BounceRecord


@pytest.fixture
def sent(make, app):
    def _sent(**kw):
        contact = make.contact(**kw)
        message = make.outbox_message(contact=contact, state="sent", sent_at=utcnow())
        return contact, message, message_id_for(message.id, app.config)
    return _sent


def _rows():
    db.session.expire_all()
    return (db.session.query(BounceRecord).count(), db.session.query(DeliveryEvent).count(),
            db.session.query(Contact).filter(Contact.email_bounced_at.is_not(None)).count())


# --- SES / SNS -----------------------------------------------------------------------------

@pytest.fixture
def sns(app):
    ses_engine.clear_certificate_cache()
    signer = SnsSigner()
    app.config["SES_SNS_TOPIC_ARNS"] = TOPIC_ARN
    app.extensions["webhook_fetch"] = signer.fetch
    yield signer
    app.extensions.pop("webhook_fetch", None)
    ses_engine.clear_certificate_cache()


def _post_sns(client, body):
    return client.post("/webhooks/ses", data=json.dumps(body), content_type="text/plain; charset=UTF-8")


@pytest.mark.parametrize("version", ["1", "2"])
def test_ses_hard_bounce_is_recorded_once(client, sns, sent, version):
    contact, message, header = sent()
    note = sns.notification(ses_bounce(header, contact.email), "sns-1", version=version)
    r = _post_sns(client, note)
    assert r.status_code == 200 and r.json["recorded"] == 1
    assert _rows() == (1, 1, 1)
    record = db.session.query(BounceRecord).one()
    assert (record.kind, record.source, record.status, record.message_id) == ("hard", "ses", "5.1.1", message.id)
    # SNS delivers again (a retry or a replay of the same signed message): nothing new.
    r = _post_sns(client, note)
    assert r.status_code == 200 and r.json["repeated"] == 1
    assert _rows() == (1, 1, 1)
    assert sns.fetched == [CERT_URL]  # the certificate was fetched once, then cached


def test_ses_transient_is_soft_and_complaint_unsubscribes(client, sns, sent):
    contact, message, header = sent()
    other, message2, header2 = sent()
    assert _post_sns(client, sns.notification(ses_bounce(header, contact.email, permanent=False), "s-1")).status_code == 200
    assert _post_sns(client, sns.notification(ses_complaint(header2, other.email), "s-2")).status_code == 200
    kinds = sorted(r.kind for r in db.session.query(BounceRecord))
    assert kinds == ["complaint", "soft"]
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).email_bounced_at is None  # one soft bounce only counts
    assert db.session.get(Contact, other.id).unsubscribed_at is not None


def test_ses_batch_of_messages_and_verp_return_path(client, sns, sent, app):
    contact, message, _header = sent()
    path = verp.return_path(message.id, domain="bounce.example.com", secret=app.config["SECRET_KEY"])
    event = ses_bounce("<someone-elses-id@mx>", contact.email, return_path=path)
    other, message2, header2 = sent()
    body = [sns.notification(event, "b-1"), sns.notification(ses_bounce(header2, other.email), "b-2")]
    r = _post_sns(client, body)
    assert r.status_code == 200 and r.json["recorded"] == 2
    assert {r.message_id for r in db.session.query(BounceRecord)} == {message.id, message2.id}


def test_ses_bad_signature_is_401_and_stores_nothing(client, sns, sent):
    contact, _message, header = sent()
    note = sns.notification(ses_bounce(header, contact.email), "sns-bad")
    note["Message"] = note["Message"].replace("Permanent", "Transient")  # tampered after signing
    assert _post_sns(client, note).status_code == 401
    good = sns.notification(ses_bounce(header, contact.email), "sns-good")
    assert _post_sns(client, [good, note]).status_code == 401  # one bad message refuses the batch
    forged = SnsSigner().notification(ses_bounce(header, contact.email), "sns-forged")  # another key
    assert _post_sns(client, forged).status_code == 401
    assert _rows() == (0, 0, 0)


def test_ses_foreign_certificate_host_and_topic_are_refused(client, sns, sent, app):
    contact, _message, header = sent()
    for url in ("https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem",
                "http://sns.eu-west-1.amazonaws.com/cert.pem",
                "https://evil.example/sns.eu-west-1.amazonaws.com/cert.pem",
                "https://sns.eu-west-1.amazonaws.com:8443/cert.pem"):
        signer = SnsSigner(cert_url=url)
        app.extensions["webhook_fetch"] = signer.fetch
        assert _post_sns(client, signer.notification(ses_bounce(header, contact.email), "x")).status_code == 401
        assert signer.fetched == []  # never even asked for
    other_topic = SnsSigner(topic_arn="arn:aws:sns:eu-west-1:999999999999:someone-else")
    app.extensions["webhook_fetch"] = other_topic.fetch
    assert _post_sns(client, other_topic.notification(ses_bounce(header, contact.email), "y")).status_code == 401
    assert _rows() == (0, 0, 0)


def test_ses_without_configured_topics_refuses(client, sns, sent, app):
    contact, _message, header = sent()
    app.config["SES_SNS_TOPIC_ARNS"] = ""
    assert _post_sns(client, sns.notification(ses_bounce(header, contact.email), "z")).status_code == 401
    assert _rows() == (0, 0, 0)


def test_ses_subscription_confirmation_fetches_the_subscribe_url(client, sns):
    url = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=tok"
    r = _post_sns(client, sns.subscription(url))
    assert r.status_code == 200 and r.json["confirmed"] == 1
    assert sns.fetched == [CERT_URL, url]


def test_ses_subscription_on_a_foreign_host_is_refused(client, sns):
    r = _post_sns(client, sns.subscription("https://evil.example/confirm"))
    assert r.status_code == 401
    assert sns.fetched == [CERT_URL]  # the certificate, never the foreign URL


def test_ses_unknown_message_and_delivery(client, sns, sent):
    r = _post_sns(client, sns.notification(ses_bounce("<nudge-999999@x>", "nobody@example.com"), "u-1"))
    assert r.status_code == 200 and r.json["unknown"] == 1
    contact, message, header = sent()
    delivery = {"notificationType": "Delivery", "mail": {"commonHeaders": {"messageId": header}},
                "delivery": {"smtpResponse": "250 ok"}}
    r = _post_sns(client, sns.notification(delivery, "d-1"))
    # The send path records "delivered" itself; this message (made directly) had none yet.
    assert r.status_code == 200 and r.json["delivered"] == 1
    r = _post_sns(client, sns.notification(delivery, "d-2"))
    assert r.json["repeated"] == 1
    assert db.session.query(DeliveryEvent).filter_by(kind="delivered").count() == 1


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b"{}", b'{"Type": "Notification"}', b"[1, 2]"])
def test_ses_junk_is_refused(client, sns, body):
    r = client.post("/webhooks/ses", data=body, content_type="text/plain")
    assert r.status_code in (400, 401)
    assert _rows() == (0, 0, 0)


def test_webhooks_need_no_login_and_no_csrf_but_only_post(client):
    assert client.get("/webhooks/ses").status_code == 405
    assert client.post("/webhooks/ses", data="{}").status_code == 401  # not a redirect to login


# --- SendGrid ------------------------------------------------------------------------------

@pytest.fixture
def sendgrid(app):
    signer = SendGridSigner()
    app.config["SENDGRID_WEBHOOK_PUBLIC_KEY"] = signer.public_key
    return signer


def _post_sendgrid(client, signer, events, timestamp=None, tamper=None):
    body = json.dumps(events).encode()
    headers = signer.headers(body, timestamp or int(time.time()))
    return client.post("/webhooks/sendgrid", data=tamper or body, headers=headers, content_type="application/json")


def test_sendgrid_events(client, sendgrid, sent):
    a, ma, ha = sent()
    b, mb, hb = sent()
    c, mc, hc = sent()
    events = [
        {"email": a.email, "event": "bounce", "type": "bounce", "status": "5.1.1",
         "reason": "550 <script>alert(1)</script>", "sg_event_id": "ev-1", "smtp-id": ha},
        {"email": b.email, "event": "bounce", "type": "blocked", "status": "4.0.0", "sg_event_id": "ev-2",
         "smtp-id": hb},
        {"email": c.email, "event": "spamreport", "sg_event_id": "ev-3", "smtp-id": hc},
        {"email": c.email, "event": "open", "sg_event_id": "ev-4", "smtp-id": hc},
    ]
    r = _post_sendgrid(client, sendgrid, events)
    assert r.status_code == 200 and r.json["recorded"] == 3
    assert sorted((x.kind, x.message_id) for x in db.session.query(BounceRecord)) == sorted(
        [("hard", ma.id), ("soft", mb.id), ("complaint", mc.id)])
    # The same events again (a retry inside the window): nothing new.
    r = _post_sendgrid(client, sendgrid, events)
    assert r.status_code == 200 and r.json["repeated"] == 3
    assert db.session.query(BounceRecord).count() == 3


def test_sendgrid_bad_signature_stale_timestamp_and_no_key(client, sendgrid, sent, app):
    a, _m, ha = sent()
    events = [{"email": a.email, "event": "bounce", "type": "bounce", "sg_event_id": "ev-9", "smtp-id": ha}]
    tampered = json.dumps([{**events[0], "sg_event_id": "ev-10"}]).encode()
    assert _post_sendgrid(client, sendgrid, events, tamper=tampered).status_code == 401
    assert _post_sendgrid(client, SendGridSigner(), events).status_code == 401  # another key
    assert _post_sendgrid(client, sendgrid, events, timestamp=int(time.time()) - 3600).status_code == 401
    assert client.post("/webhooks/sendgrid", data=json.dumps(events)).status_code == 401  # unsigned
    app.config["SENDGRID_WEBHOOK_PUBLIC_KEY"] = ""
    assert _post_sendgrid(client, sendgrid, events).status_code == 401
    app.config["SENDGRID_WEBHOOK_PUBLIC_KEY"] = "bm90IGEga2V5"
    assert _post_sendgrid(client, sendgrid, events).status_code == 401
    assert _rows() == (0, 0, 0)


def test_sendgrid_signed_junk_is_400(client, sendgrid):
    body = b'{"not": "a list"}'
    r = client.post("/webhooks/sendgrid", data=body, headers=sendgrid.headers(body, int(time.time())))
    assert r.status_code == 400
    assert _rows() == (0, 0, 0)


# --- Postmark ------------------------------------------------------------------------------

@pytest.fixture
def postmark(app):
    app.config["POSTMARK_WEBHOOK_USERNAME"] = "nudge"
    app.config["POSTMARK_WEBHOOK_PASSWORD"] = "s3cret-pass"
    return {"Authorization": "Basic " + base64.b64encode(b"nudge:s3cret-pass").decode()}


def _post_postmark(client, auth, event):
    return client.post("/webhooks/postmark", data=json.dumps(event), headers=auth, content_type="application/json")


def test_postmark_bounce_by_metadata_and_by_recipient(client, postmark, sent):
    a, ma, ha = sent()
    b, mb, _hb = sent()
    by_metadata = {"RecordType": "Bounce", "ID": 42, "Type": "HardBounce", "MessageID": "pm-uuid-1",
                   "Email": a.email, "Details": "smtp;550 5.1.1 unknown", "Metadata": {"nudge-message-id": ha}}
    by_recipient = {"RecordType": "Bounce", "ID": 43, "Type": "SoftBounce", "MessageID": "pm-uuid-2",
                    "Email": b.email.upper(), "Details": "mailbox full"}
    assert _post_postmark(client, postmark, by_metadata).json["recorded"] == 1
    assert _post_postmark(client, postmark, by_recipient).json["recorded"] == 1
    assert _post_postmark(client, postmark, by_metadata).json["repeated"] == 1
    assert sorted((x.kind, x.message_id) for x in db.session.query(BounceRecord)) == sorted(
        [("hard", ma.id), ("soft", mb.id)])


def test_postmark_complaint_and_unknown(client, postmark, sent):
    a, ma, ha = sent()
    complaint = {"RecordType": "SpamComplaint", "ID": 77, "Type": "SpamComplaint", "Email": a.email}
    assert _post_postmark(client, postmark, complaint).json["recorded"] == 1
    unknown = {"RecordType": "Bounce", "ID": 78, "Type": "HardBounce", "Email": "stranger@example.com"}
    assert _post_postmark(client, postmark, unknown).json["unknown"] == 1


def test_postmark_wrong_credentials_are_401(client, postmark, sent, app):
    a, _m, _h = sent()
    event = {"RecordType": "Bounce", "ID": 1, "Type": "HardBounce", "Email": a.email}
    wrong = {"Authorization": "Basic " + base64.b64encode(b"nudge:wrong").decode()}
    r = _post_postmark(client, wrong, event)
    assert r.status_code == 401 and "Basic" in r.headers["WWW-Authenticate"]
    assert _post_postmark(client, {}, event).status_code == 401
    assert _post_postmark(client, {"Authorization": "Basic !!!"}, event).status_code == 401
    app.config["POSTMARK_WEBHOOK_PASSWORD"] = ""
    assert _post_postmark(client, postmark, event).status_code == 401
    assert _rows() == (0, 0, 0)


# --- Mailgun -------------------------------------------------------------------------------

@pytest.fixture
def mailgun(app):
    mailgun_engine.forget_tokens()
    app.config["MAILGUN_WEBHOOK_SIGNING_KEY"] = "key-mailgun-test"
    return "key-mailgun-test"


def _mailgun_body(key, event_data, token="tok-1", timestamp=None):
    return {"signature": mailgun_signature(key, timestamp or int(time.time()), token), "event-data": event_data}


def _post_mailgun(client, body):
    return client.post("/webhooks/mailgun", data=json.dumps(body), content_type="application/json")


def test_mailgun_failed_complained_and_replay(client, mailgun, sent):
    a, ma, ha = sent()
    b, mb, hb = sent()
    failed = {"id": "mg-1", "event": "failed", "severity": "permanent", "recipient": a.email,
              "message": {"headers": {"message-id": ha.strip("<>")}},
              "delivery-status": {"code": 550, "message": "5.1.1 no such user"}}
    r = _post_mailgun(client, _mailgun_body(mailgun, failed, token="t-1"))
    assert r.status_code == 200 and r.json["recorded"] == 1
    # The same signed request again: its token was seen, a replay.
    r = _post_mailgun(client, _mailgun_body(mailgun, failed, token="t-1"))
    assert r.status_code == 200 and r.json == {"ignored": "replay"}
    # Mailgun retrying the same event with a new token: the event id makes it a repeat.
    r = _post_mailgun(client, _mailgun_body(mailgun, failed, token="t-2"))
    assert r.json["repeated"] == 1
    complained = {"id": "mg-2", "event": "complained", "recipient": b.email,
                  "message": {"headers": {"message-id": hb}}}
    assert _post_mailgun(client, _mailgun_body(mailgun, complained, token="t-3")).json["recorded"] == 1
    temporary = {"id": "mg-3", "event": "failed", "severity": "temporary", "recipient": b.email,
                 "message": {"headers": {"message-id": hb}}}
    assert _post_mailgun(client, _mailgun_body(mailgun, temporary, token="t-4")).json["recorded"] == 1
    assert sorted(x.kind for x in db.session.query(BounceRecord)) == ["complaint", "hard", "soft"]


def test_mailgun_bad_signature_and_stale_timestamp(client, mailgun, sent, app):
    a, _m, ha = sent()
    failed = {"id": "mg-9", "event": "failed", "severity": "permanent", "recipient": a.email,
              "message": {"headers": {"message-id": ha}}}
    assert _post_mailgun(client, _mailgun_body("other-key", failed)).status_code == 401
    assert _post_mailgun(client, _mailgun_body(mailgun, failed, timestamp=int(time.time()) - 600)).status_code == 401
    assert _post_mailgun(client, {"event-data": failed}).status_code == 401
    app.config["MAILGUN_WEBHOOK_SIGNING_KEY"] = ""
    assert _post_mailgun(client, _mailgun_body(mailgun, failed)).status_code == 401
    assert _rows() == (0, 0, 0)
