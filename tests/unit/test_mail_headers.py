"""Issue 14, email items 12-14: what the headers and parts of a sent message say
(DESIGN.md "Email headers"), DKIM signing, the document wrapper and tracking switches."""
import re
import shutil
import subprocess
from email import message_from_bytes
from email.policy import default as default_policy

import pytest

from engine.sending import bcc_copy, mime as mailer

FIELDS = {"id": 42, "to_email": "ada@example.com", "subject": "Your report is ready",
          "html": '<p>Hi</p><a href="https://example.com/report">Open</a>', "text": "Hi"}


def _build(app, trigger, **fields):
    return mailer.build_message({**FIELDS, **fields}, trigger, config=app.config)


def _wire(app, trigger, **fields):
    """What goes over SMTP, parsed the way a receiver parses it."""
    data = mailer.message_bytes({**FIELDS, **fields}, trigger, config=app.config)
    return data, message_from_bytes(data, policy=default_policy)


# --- 12. headers ----------------------------------------------------------------

def test_message_id_domain_comes_from_the_environment_or_the_public_host(app, make):
    trigger = make.trigger()
    app.config.update(MESSAGE_ID_DOMAIN="mail.acme.io", PUBLIC_BASE_URL="https://nudge.acme.io")
    assert _build(app, trigger)["Message-ID"] == "<nudge-42@mail.acme.io>"
    app.config.update(MESSAGE_ID_DOMAIN="")
    assert _build(app, trigger)["Message-ID"] == "<nudge-42@nudge.acme.io>"
    message = make.outbox_message(trigger=trigger)
    assert message.message_id == f"<nudge-{message.id}@nudge.acme.io>"


def test_date_has_a_numeric_zone_not_gmt(app, make):
    data, msg = _wire(app, make.trigger())
    date = next(line for line in data.split(b"\r\n") if line.startswith(b"Date:"))
    assert date.endswith(b" +0000") and b"GMT" not in date
    assert msg["Date"].datetime.utcoffset().total_seconds() == 0


@pytest.mark.parametrize("name, wire", [
    ("Zoë at Acme", b"From: =?utf-8?"),  # RFC 2047 encoded word
    ("Acme, Inc.", b'From: "Acme, Inc." <success@acme.io>'),  # quoted: a comma is special
    ("Ada at Acme", b"From: Ada at Acme <success@acme.io>"),
])
def test_from_has_the_triggers_display_name(app, make, name, wire):
    data, msg = _wire(app, make.trigger(from_email="success@acme.io", from_name=name))
    assert wire in data
    assert msg["From"].addresses[0].display_name == name
    assert msg["From"].addresses[0].addr_spec == "success@acme.io"
    plain = _build(app, make.trigger(from_email="success@acme.io", from_name=None))
    assert plain["From"] == "success@acme.io"


def test_from_name_with_a_line_break_is_refused(app, make):
    with pytest.raises(mailer.MailerError, match="line break"):
        _build(app, make.trigger(from_name="Ada\r\nBcc: all@example.com"))


def test_list_id_per_trigger_and_mailto_unsubscribe_when_configured(app, make):
    trigger = make.trigger()
    app.config.update(MESSAGE_ID_DOMAIN="mail.acme.io", UNSUBSCRIBE_MAILTO="")
    msg = _build(app, trigger)
    assert msg["List-Id"] == f"<trigger-{trigger.id}.mail.acme.io>"
    assert "mailto:" not in msg["List-Unsubscribe"]
    app.config.update(UNSUBSCRIBE_MAILTO="unsubscribe@acme.io")
    _, msg = _wire(app, trigger)
    https, mailto = [part.strip() for part in str(msg["List-Unsubscribe"]).split(",")]
    assert https.startswith(f"<{app.config['PUBLIC_BASE_URL']}/u/")
    assert mailto.startswith("<mailto:unsubscribe@acme.io?subject=unsubscribe%2042.")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_postmark_metadata_names_the_message_only_when_postmark_is_configured(app, make):
    """Postmark's bounce webhook only hands back the message's metadata
    (engine/bounces/webhooks/postmark.py reads it); the BCC copy never carries it,
    so a bounce of the copy cannot mark the contact."""
    trigger = make.trigger()
    app.config.update(MESSAGE_ID_DOMAIN="mail.acme.io", POSTMARK_WEBHOOK_USERNAME="")
    assert _build(app, trigger)["X-PM-Metadata-nudge-message-id"] is None
    app.config.update(POSTMARK_WEBHOOK_USERNAME="nudge")
    _, msg = _wire(app, trigger)
    assert msg["X-PM-Metadata-nudge-message-id"] == "<nudge-42@mail.acme.io>"
    copy = message_from_bytes(bcc_copy.copy_message_bytes(FIELDS, trigger, config=app.config),
                              policy=default_policy)
    assert copy["X-PM-Metadata-nudge-message-id"] is None


def test_a_text_only_message_is_one_text_plain_part(app, make):
    _, msg = _wire(app, make.trigger(html=None, text="Hi"), html="", text="Hi Ada")
    assert msg.get_content_type() == "text/plain" and not msg.is_multipart()
    assert msg.get_content().strip() == "Hi Ada"


# --- 14. what is previewed is what is sent; tracking switches -------------------------

def test_an_html_fragment_is_sent_as_the_document_the_preview_shows(app, make):
    from engine.render.document import BASE_STYLE, as_document

    trigger = make.trigger(track_opens=False, track_clicks=False)
    html = _build(app, trigger).get_body(("html",)).get_content()
    assert html.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in html
    assert BASE_STYLE in html and "<body>\n" + FIELDS["html"] in html
    assert html.replace("\r\n", "\n") == as_document(FIELDS["html"])  # untracked: exactly the wrapper
    document = "<html><body><p>Mine</p></body></html>"
    assert as_document(document) == document  # a document is sent as written


def test_the_template_preview_frame_is_the_same_document(app, login):
    from engine.render.document import as_document

    client = login("viewer")
    res = client.post("/templates/preview", data={"subject": "Hi", "html": "<p>Hello</p>", "text": ""})
    assert res.status_code == 200
    from markupsafe import escape
    assert f'srcdoc="{escape(as_document("<p>Hello</p>"))}"' in res.data.decode()


@pytest.mark.parametrize("opens, clicks", [(True, True), (False, True), (True, False), (False, False)])
def test_open_and_click_tracking_can_be_switched_off(app, make, opens, clicks):
    html = _build(app, make.trigger(track_opens=opens, track_clicks=clicks)).get_body(("html",)).get_content()
    assert ("/t/o/" in html) is opens
    assert ("/t/c/" in html) is clicks
    assert ('href="https://example.com/report"' in html) is not clicks


# --- 13. DKIM ---------------------------------------------------------------------

@pytest.fixture
def dkim_key(app, tmp_path):
    if not shutil.which("openssl"):
        pytest.fail("openssl is needed to make a test DKIM key")
    path = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(path), "2048"], check=True, capture_output=True)
    app.config.update(DKIM_DOMAIN="acme.io", DKIM_SELECTOR="nudge1", DKIM_PRIVATE_KEY_PATH=str(path))
    return path


def _dns(record):
    def dnsfunc(name, timeout=5):
        assert name == b"nudge1._domainkey.acme.io."
        return record["value"].encode()
    return dnsfunc


def test_dkim_signature_covers_the_rfc8058_headers_and_verifies(app, make, dkim_key):
    import dkim

    from engine.sending import dkim_sign

    record = dkim_sign.dns_record(app.config)
    assert record["name"] == "nudge1._domainkey.acme.io" and record["value"].startswith("v=DKIM1; k=rsa; p=")
    trigger = make.trigger(from_email="success@acme.io", from_name="Zoë at Acme")
    data, msg = _wire(app, trigger)
    assert data.startswith(b"DKIM-Signature:")
    tags = dict(t.strip().split("=", 1) for t in str(msg["DKIM-Signature"]).replace("\r\n", "").split(";") if "=" in t)
    signed = {h.strip().lower() for h in tags["h"].replace(" ", "").split(":")}
    assert {"from", "to", "subject", "date", "message-id", "list-unsubscribe",
            "list-unsubscribe-post"} <= signed
    assert tags["d"].strip() == "acme.io" and tags["s"].strip() == "nudge1"
    assert dkim.verify(data, dnsfunc=_dns(record))
    tampered = data.replace(b"Subject: Your report is ready", b"Subject: Your report is late")
    assert not dkim.verify(tampered, dnsfunc=_dns(record))
    # The openssl 3 default is PKCS#8; an older PKCS#1 key signs as well.
    pkcs1 = dkim_key.parent / "pkcs1.pem"
    subprocess.run(["openssl", "rsa", "-in", str(dkim_key), "-out", str(pkcs1), "-traditional"],
                   check=True, capture_output=True)
    app.config.update(DKIM_PRIVATE_KEY_PATH=str(pkcs1))
    assert dkim_sign.dns_record(app.config) == record
    data, _ = _wire(app, trigger)
    assert dkim.verify(data, dnsfunc=_dns(record))


def test_without_dkim_settings_nothing_is_signed(app, make):
    from engine.sending import dkim_sign

    app.config.update(DKIM_DOMAIN="acme.io", DKIM_SELECTOR="", DKIM_PRIVATE_KEY_PATH="")
    data, _ = _wire(app, make.trigger())
    assert b"DKIM-Signature" not in data and dkim_sign.dns_record(app.config) is None


@pytest.mark.parametrize("role", ["admin", "manager", "viewer"])
def test_settings_page_shows_the_dkim_txt_record_to_admins(app, login, dkim_key, role):
    from engine.sending import dkim_sign

    record = dkim_sign.dns_record(app.config)
    page = login(role).get("/settings/").data.decode()
    shown = record["name"] in page and record["value"] in page
    assert shown is (role == "admin")
    assert ("DKIM" in page) is (role == "admin")


def test_settings_page_says_when_the_dkim_key_cannot_be_read(app, login, tmp_path):
    app.config.update(DKIM_DOMAIN="acme.io", DKIM_SELECTOR="nudge1",
                      DKIM_PRIVATE_KEY_PATH=str(tmp_path / "missing.pem"))
    page = login("admin").get("/settings/").data.decode()
    assert "nudge1._domainkey.acme.io" in page and "cannot read the DKIM key" in page


def test_the_open_pixel_is_no_image_unless_the_email_has_images(app, make):
    """SpamAssassin scores any <img> in a short HTML part as an image-only email
    (HTML_IMAGE_ONLY_*): the pixel must not turn a text email into one."""
    trigger = make.trigger()
    html = _build(app, trigger).get_body(("html",)).get_content()
    assert "<img" not in html.lower()
    assert "background-image:url('" in html and "/t/o/" in html
    with_logo = '<p><img src="https://acme.io/logo.png" alt="Acme"></p>' + FIELDS["html"]
    html = _build(app, trigger, html=with_logo).get_body(("html",)).get_content()
    assert html.count("<img") == 2 and '<img src="http://127.0.0.1:5000/t/o/' in html.replace("=\r\n", "")


NORMAL_TEXT = ("<p>Hi Grace,</p><p>Your team at Globex has not signed in to Acme Analytics for two weeks. "
               "Since then, three new dashboards were shared with you and the weekly revenue report was "
               "updated with the numbers for November. If something got in the way, reply to this email "
               "and we will help you set things up again.</p>"
               '<p><a href="https://app.acme.io/dashboards">Open your dashboards</a></p>'
               "<p>Thanks,<br>Ada, Customer Success at Acme</p>")


@pytest.mark.skipif(not shutil.which("spamassassin"), reason="spamassassin is not installed "
                    "(apt-get install spamassassin); measured by hand otherwise")
@pytest.mark.parametrize("html", [NORMAL_TEXT, "<p>Hello Ada</p><p><a href=\"https://example.com/docs\">Read the docs</a></p>"],
                         ids=["normal", "short"])
def test_spamassassin_offline_rules_give_the_products_headers_and_parts_zero_points(app, make, html):
    app.config.update(PUBLIC_BASE_URL="https://nudge.acme.io")
    trigger = make.trigger(from_email="success@acme.io", from_name="Ada at Acme",
                           reply_to_email="help@acme.io", bcc="audit@acme.io")
    fields = dict(FIELDS, to_email="grace@globex.example", subject="Grace, your dashboards are waiting",
                  html=html, text=None)
    for data in (mailer.message_bytes(fields, trigger, config=app.config),
                 bcc_copy.copy_message_bytes(fields, trigger, config=app.config)):
        report = subprocess.run(["spamassassin", "-L", "-t"], input=data, capture_output=True,
                                timeout=120).stdout.decode()
        table = report.split("pts rule name", 1)[1]
        hits = re.findall(r"^\s*(-?\d+\.\d+)\s+([A-Z0-9_]+)\s", table, re.MULTILINE)
        assert hits, report
        scored = {rule: pts for pts, rule in hits if float(pts) != 0}
        assert scored == {}, report
