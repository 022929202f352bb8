"""Public tracking routes: open pixel, click redirect, unsubscribe (incl. RFC 8058 one-click)."""
from itsdangerous import URLSafeSerializer

from engine import tracking
from extensions import db
from models import Contact, DeliveryEvent

HTML = ('<p><a href="https://example.com/welcome?x=1&amp;y=2">Start</a> '
        '<a href="javascript:alert(1)">js</a> <a href="//evil.com">pr</a></p>')


def _kinds(message_id=None):
    query = db.select(DeliveryEvent.kind).order_by(DeliveryEvent.id)
    if message_id is not None:
        query = query.where(DeliveryEvent.message_id == message_id)
    return list(db.session.scalars(query))


def _unsubscribed_at(message):
    db.session.expire_all()
    return db.session.get(Contact, message.contact_id).unsubscribed_at


def test_open_pixel_records_and_is_never_cached(client, make):
    message = make.outbox_message(state="sent")
    resp = client.get(f"/t/o/{tracking.open_token(message.id)}.gif")
    assert resp.status_code == 200
    assert resp.mimetype == "image/gif" and resp.data.startswith(b"GIF89a")
    assert "no-store" in resp.headers["Cache-Control"]
    assert _kinds(message.id) == ["opened"]


def test_open_pixel_with_bad_token_is_still_a_gif_but_records_nothing(client, make):
    message = make.outbox_message(state="sent")
    for token in ("nonsense", tracking.unsubscribe_token(message.id), tracking.open_token(10**9)):
        resp = client.get(f"/t/o/{token}.gif")
        assert resp.status_code == 200 and resp.mimetype == "image/gif"
    assert _kinds() == []


def test_head_on_pixel_and_link_records_nothing(client, make):
    message = make.outbox_message(state="sent", html=HTML)
    assert client.head(f"/t/o/{tracking.open_token(message.id)}.gif").status_code == 200
    resp = client.head(f"/t/c/{tracking.click_token(message.id, 0)}")
    assert resp.status_code == 302
    assert _kinds() == []


def test_click_redirects_to_the_messages_own_link(client, make):
    message = make.outbox_message(state="sent", html=HTML)
    resp = client.get(f"/t/c/{tracking.click_token(message.id, 0)}")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "https://example.com/welcome?x=1&y=2"
    assert _kinds(message.id) == ["opened", "clicked"]
    event = db.session.scalars(db.select(DeliveryEvent).where(DeliveryEvent.kind == "clicked")).one()
    assert event.detail == "https://example.com/welcome?x=1&y=2"


def test_click_never_leads_to_unsafe_or_missing_links(client, make):
    message = make.outbox_message(state="sent", html=HTML)
    for index in (1, 2, 3, 50):  # javascript:, //evil.com, out of range x2
        resp = client.get(f"/t/c/{tracking.click_token(message.id, index)}")
        assert resp.status_code == 404, index
        assert "Location" not in resp.headers
    assert client.get(f"/t/c/{tracking.click_token(10**9, 0)}").status_code == 404
    assert _kinds() == []


def test_forged_click_tokens_are_404(client, app, make):
    message = make.outbox_message(state="sent", html=HTML)
    token = tracking.click_token(message.id, 0)
    wrong_salt = tracking.open_token(message.id)
    url_payload = URLSafeSerializer(app.config["SECRET_KEY"], salt="other").dumps("https://evil.com")
    for bad in (token[:-3] + "xyz", "abc.def", wrong_salt, url_payload):
        resp = client.get(f"/t/c/{bad}")
        assert resp.status_code == 404
        assert b"isn&#39;t valid" in resp.data or b"isn't valid" in resp.data
    assert _kinds() == []


def test_unsubscribe_get_only_confirms(client, make):
    message = make.outbox_message(state="sent")
    url = f"/u/{tracking.unsubscribe_token(message.id)}"
    resp = client.get(url)
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    assert message.to_email in body and 'method="post"' in body
    assert "sidebar" not in body  # standalone page, not the staff shell
    assert _unsubscribed_at(message) is None and _kinds() == []


def test_unsubscribe_post_without_cookie_or_csrf_token(app, make):
    app.config["WTF_CSRF_ENABLED"] = True  # the token in the URL is the proof
    message = make.outbox_message(state="sent")
    fresh = app.test_client()
    resp = fresh.post(f"/u/{tracking.unsubscribe_token(message.id)}")
    assert resp.status_code == 200
    assert "unsubscribed" in resp.get_data(as_text=True)
    assert _unsubscribed_at(message) is not None
    assert _kinds(message.id) == ["unsubscribed"]
    # A second POST changes nothing and says so.
    again = fresh.post(f"/u/{tracking.unsubscribe_token(message.id)}")
    assert again.status_code == 200 and "already unsubscribed" in again.get_data(as_text=True)
    assert _kinds(message.id) == ["unsubscribed"]
    # GET afterwards shows the same, without a button.
    page = fresh.get(f"/u/{tracking.unsubscribe_token(message.id)}").get_data(as_text=True)
    assert "already unsubscribed" in page and 'method="post"' not in page


def test_rfc8058_one_click_post(app, make):
    app.config["WTF_CSRF_ENABLED"] = True
    message = make.outbox_message(state="sent")
    url = tracking.unsubscribe_url(message.id, "http://localhost")
    path = url[len("http://localhost"):]
    resp = app.test_client().post(
        path, data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert resp.status_code == 200
    assert _unsubscribed_at(message) is not None


def test_forged_unsubscribe_tokens(client, app, make):
    message = make.outbox_message(state="sent")
    token = tracking.unsubscribe_token(message.id)
    forged = URLSafeSerializer("guessed-secret", salt=tracking.SALTS["unsubscribe"]).dumps(message.id)
    for bad in (token[:-2] + "zz", forged, tracking.open_token(message.id), "x"):
        assert client.post(f"/u/{bad}").status_code == 400
        assert client.get(f"/u/{bad}").status_code == 404
    # Valid signature for a message that no longer exists.
    gone = tracking.unsubscribe_token(10**9)
    assert client.post(f"/u/{gone}").status_code == 404
    assert client.get(f"/u/{gone}").status_code == 404
    assert _unsubscribed_at(message) is None and _kinds() == []


def test_tracking_needs_no_login(client, make):
    message = make.outbox_message(state="sent", html=HTML)
    assert client.get(f"/u/{tracking.unsubscribe_token(message.id)}").status_code == 200
    assert client.get(f"/t/c/{tracking.click_token(message.id, 0)}").status_code == 302


def test_unsubscribing_holds_back_emails_still_waiting_for_that_contact(app, make):
    """An approved email must not go out after its contact unsubscribed from another one."""
    from engine import tracking
    from models import OutboxMessage
    from models.base import utcnow

    contact = make.contact()
    trigger = make.trigger()
    sent = make.outbox_message(trigger=trigger, contact=contact, state="sent", occurrence_key="a")
    waiting = make.outbox_message(trigger=trigger, contact=contact, state="approved", occurrence_key="b")
    assert tracking.unsubscribe(sent.id, utcnow()) is True
    from extensions import db

    db.session.expire_all()
    msg = db.session.get(OutboxMessage, waiting.id)
    assert msg.state == "suppressed" and msg.reason == "unsubscribed"


def test_tokens_of_the_earlier_serialized_form_still_work(client, app, make):
    """Emails sent before tokens became plain signed ids carry JSON-serializer tokens."""
    message = make.outbox_message(state="sent", html=HTML)

    def old(purpose, value):
        return URLSafeSerializer(app.config["SECRET_KEY"], salt=tracking.SALTS[purpose]).dumps(value)

    assert client.get(f"/t/o/{old('open', message.id)}.gif").status_code == 200
    resp = client.get(f"/t/c/{old('click', [message.id, 0])}")
    assert resp.headers["Location"] == "https://example.com/welcome?x=1&y=2"
    assert client.get(f"/u/{old('unsubscribe', message.id)}").status_code == 200
    # The old form under another purpose's salt is as forged as the new one.
    assert client.get(f"/t/c/{old('open', [message.id, 0])}").status_code == 404
    assert _kinds(message.id) == ["opened", "clicked"]  # the click found the open already there


def test_a_signed_value_that_is_not_plain_ids_is_rejected(app):
    from engine.tracking.tokens import _signer

    for value in ("12a", "-1", "1..2", "", "١٢"):
        token = _signer("open").sign(value.encode()).decode()
        assert tracking.read_open_token(token) is None, value
    assert tracking.read_click_token(tracking.open_token(5)) is None
    assert tracking.read_open_token(tracking.open_token(5)) == 5
    assert tracking.read_click_token(tracking.click_token(5, 2)) == (5, 2)
