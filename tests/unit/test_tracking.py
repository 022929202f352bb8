"""engine/tracking.py: signed tokens, link rewriting, redirect targets, recorded events."""
from datetime import datetime

from itsdangerous import Signer, URLSafeSerializer

from engine import tracking
from extensions import db
from models import Contact, DeliveryEvent

NOW = datetime(2026, 1, 5, 9, 0)
BASE = "https://nudge.example.com"

HTML = """<html><body>
<p title="<a href='https://evil.example/attr'>not a link</a>">Hello</p>
<!-- <a href="https://evil.example/comment">commented out</a> -->
<a href="https://example.com/docs?a=1&amp;b=2" class="btn">Docs</a>
<a href="javascript:alert(1)">js</a>
<a href="//evil.com/path">protocol-relative</a>
<a href="mailto:help@example.com">Mail us</a>
<a href="data:text/html,<script>alert(1)</script>">data</a>
<a href="  java&#9;script:alert(2)">sneaky js</a>
<a href="https://nudge.example.com/u/sometoken">Unsubscribe</a>
<script>var s = '<a href="https://evil.example/script">';</script>
<a name="anchor-without-href">x</a>
<a href="http://example.org/x" href="https://second.example">dup</a>
</body></html>"""


# --- tokens -----------------------------------------------------------------

def test_tokens_round_trip(app):
    assert tracking.read_open_token(tracking.open_token(42)) == 42
    assert tracking.read_click_token(tracking.click_token(42, 3)) == (42, 3)
    assert tracking.read_unsubscribe_token(tracking.unsubscribe_token(42)) == 42


def test_tokens_do_not_cross_purposes(app):
    open_t, click_t, unsub_t = (
        tracking.open_token(7), tracking.click_token(7, 0), tracking.unsubscribe_token(7)
    )
    assert tracking.read_unsubscribe_token(open_t) is None
    assert tracking.read_open_token(unsub_t) is None
    assert tracking.read_click_token(open_t) is None
    assert tracking.read_open_token(click_t) is None
    assert tracking.read_unsubscribe_token(click_t) is None


def test_tampered_and_forged_tokens_are_rejected(app):
    token = tracking.unsubscribe_token(7)
    payload, sig = token.split(".")
    other_payload = tracking.unsubscribe_token(8).split(".")[0]
    assert tracking.read_unsubscribe_token(f"{other_payload}.{sig}") is None
    assert tracking.read_unsubscribe_token(token[:-2] + ("AA" if token[-2:] != "AA" else "BB")) is None
    assert tracking.read_unsubscribe_token("garbage") is None
    assert tracking.read_unsubscribe_token("") is None
    # Right salt, wrong secret key: still a forgery.
    forged = URLSafeSerializer("not-our-secret", salt=tracking.SALTS["unsubscribe"]).dumps(7)
    assert tracking.read_unsubscribe_token(forged) is None


def test_tokens_signed_with_our_key_but_wrong_shape_are_rejected(app):
    signer = URLSafeSerializer(app.config["SECRET_KEY"], salt=tracking.SALTS["click"])
    for payload in ("https://evil.com", [1], [1, 2, 3], [True, 0], [1, -1], {"m": 1}, [1, "0"]):
        assert tracking.read_click_token(signer.dumps(payload)) is None
    opener = URLSafeSerializer(app.config["SECRET_KEY"], salt=tracking.SALTS["open"])
    assert tracking.read_open_token(opener.dumps(True)) is None
    assert tracking.read_open_token(opener.dumps("7")) is None


def test_urls_use_public_base(app):
    app.config["PUBLIC_BASE_URL"] = "https://mail.example.com/"
    assert tracking.unsubscribe_url(5).startswith("https://mail.example.com/u/")
    assert tracking.open_url(5).endswith(".gif")
    assert tracking.open_url(5, BASE).startswith(f"{BASE}/t/o/")


# --- links ------------------------------------------------------------------

def test_links_are_only_real_anchors(app):
    hrefs = tracking.links(HTML)
    assert hrefs[0] == "https://example.com/docs?a=1&b=2"
    assert not any("evil.example" in h for h in hrefs)  # attribute, comment, script
    assert len(hrefs) == 8


def test_original_link_only_returns_safe_targets(app):
    assert tracking.original_link(HTML, 0) == "https://example.com/docs?a=1&b=2"
    assert tracking.original_link(HTML, 1) is None  # javascript:
    assert tracking.original_link(HTML, 2) is None  # //evil.com
    assert tracking.original_link(HTML, 3) == "mailto:help@example.com"
    assert tracking.original_link(HTML, 4) is None  # data:
    assert tracking.original_link(HTML, 5) is None  # tab-split javascript:
    assert tracking.original_link(HTML, 7) == "http://example.org/x"  # first href wins
    assert tracking.original_link(HTML, 8) is None  # out of range
    assert tracking.original_link(HTML, -1) is None


def test_trackable_rejects_tricky_urls(app):
    for bad in ("//evil.com", "///evil.com", "https:///evil.com", "http:\\\\evil.com",
                "https://good.com\\@evil.com", "/relative", "#top", "", " JavaScript:x",
                "vbscript:x", "ftp://example.com", "mailto:"):
        assert not tracking.trackable(bad), bad
    for good in ("https://example.com", "HTTP://Example.com/a b", " https://x.io/ ",
                 "mailto:a@b.c"):
        assert tracking.trackable(good), good


def test_instrument_html_rewrites_trackable_links_and_adds_pixel(app):
    out = tracking.instrument_html(HTML, 11, BASE)
    hrefs = tracking.links(out)
    # Index 0 and 3 (docs, mailto) and 7 are tracked; the unsafe ones and unsubscribe stay.
    assert hrefs[0].startswith(f"{BASE}/t/c/")
    assert tracking.read_click_token(hrefs[0].rsplit("/", 1)[1]) == (11, 0)
    assert tracking.read_click_token(hrefs[3].rsplit("/", 1)[1]) == (11, 3)
    assert tracking.read_click_token(hrefs[7].rsplit("/", 1)[1]) == (11, 7)
    assert hrefs[1] == "javascript:alert(1)"
    assert hrefs[2] == "//evil.com/path"
    assert hrefs[6] == f"{BASE}/u/sometoken"
    # Attributes, comments and scripts are byte-for-byte unchanged; the class stays.
    assert "<a href='https://evil.example/attr'>not a link</a>" in out
    assert '<!-- <a href="https://evil.example/comment">commented out</a> -->' in out
    assert 'class="btn"' in out
    assert "https://second.example" not in out
    # The pixel sits just before </body>.
    pixel_at, body_end = out.index("/t/o/"), out.index("</body>")
    assert pixel_at < body_end
    token = out[pixel_at + 5:out.index(".gif", pixel_at)]
    assert tracking.read_open_token(token) == 11


def test_tokens_are_the_ids_signed_by_itsdangerous(app):
    key = app.config["SECRET_KEY"]

    def signer(purpose):
        return Signer(key, salt=tracking.SALTS[purpose] + ".ids")

    for mid in (0, 7, 42, 99999, 2**40 + 3):
        assert tracking.open_token(mid) == signer("open").sign(str(mid)).decode()
        assert tracking.unsubscribe_token(mid) == signer("unsubscribe").sign(str(mid)).decode()
        assert tracking.click_token(mid, 3) == signer("click").sign(f"{mid}.3").decode()
        assert tracking.read_click_token(tracking.click_token(mid, 3)) == (mid, 3)
        assert tracking.read_unsubscribe_token(tracking.unsubscribe_token(mid)) == mid


def test_instrumenting_the_same_html_again_signs_for_each_message(app):
    first = tracking.instrument_html(HTML, 11, BASE)
    second = tracking.instrument_html(HTML, 12, BASE)  # the parse is cached, the tokens are not
    assert tracking.read_click_token(tracking.links(second)[0].rsplit("/", 1)[1]) == (12, 0)
    tracking._link_plan.cache_clear()
    assert tracking.instrument_html(HTML, 11, BASE) == first
    assert tracking.instrument_html(HTML, 11, "https://other.example") != first


def test_instrument_html_without_body_appends_pixel(app):
    out = tracking.instrument_html('<a href="https://x.io">x</a>', 3, BASE)
    assert out.startswith('<a href="https://nudge.example.com/t/c/')
    assert out.endswith(">") and "/t/o/" in out
    assert tracking.instrument_html("", 3, BASE) == ""


def test_click_targets_come_from_the_stored_html_not_the_token(app, make):
    message = make.outbox_message(state="sent", html=HTML)
    # Instrumenting a different HTML cannot smuggle a new target in: the index
    # is looked up in the message's own stored HTML.
    evil = tracking.instrument_html('<a href="https://evil.com">x</a>', message.id, BASE)
    index = tracking.read_click_token(tracking.links(evil)[0].rsplit("/", 1)[1])[1]
    assert tracking.original_link(message, index) == "https://example.com/docs?a=1&b=2"


# --- events -----------------------------------------------------------------

def _events(message_id):
    return [(e.kind, e.detail) for e in db.session.scalars(
        db.select(DeliveryEvent).where(DeliveryEvent.message_id == message_id).order_by(DeliveryEvent.id)
    )]


def test_record_open_and_click(app, make):
    message = make.outbox_message(state="sent", html=HTML)
    assert tracking.record_click(message.id, 0, NOW) == "https://example.com/docs?a=1&b=2"
    # A click implies an open (images may be blocked) -- but only one inferred open.
    assert _events(message.id) == [("opened", None), ("clicked", "https://example.com/docs?a=1&b=2")]
    assert tracking.record_open(message.id, NOW) is True
    assert tracking.record_click(message.id, 1, NOW) is None  # javascript: never
    assert tracking.record_click(message.id, 99, NOW) is None
    assert [k for k, _ in _events(message.id)] == ["opened", "clicked", "opened"]
    assert tracking.record_open(999_999, NOW) is False
    assert tracking.record_click(999_999, 0, NOW) is None
    event = db.session.scalars(db.select(DeliveryEvent)).first()
    assert (event.trigger_id, event.contact_id, event.at) == (message.trigger_id, message.contact_id, NOW)


def test_unsubscribe_is_idempotent(app, make):
    message = make.outbox_message(state="sent")
    assert tracking.unsubscribe(message.id, NOW) is True
    assert tracking.unsubscribe(message.id, datetime(2026, 2, 1)) is False
    contact = db.session.get(Contact, message.contact_id)
    db.session.refresh(contact)
    assert contact.unsubscribed_at == NOW
    assert _events(message.id) == [("unsubscribed", None)]
    assert tracking.unsubscribe(999_999, NOW) is None
    assert tracking.recipient(message.id)["unsubscribed_at"] == NOW
