"""Outbox pages: tabs, filters, roles, approve/reject/unapprove, approve-all, uncertain, detail."""
import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event

from engine import outbox as engine_outbox
from extensions import db
from models import OutboxMessage
from models.base import utcnow

HX = {"HX-Request": "true"}
TAB_STATES = {
    "waiting": "pending_approval", "approved": "approved", "sent": "sent", "failed": "failed",
    "uncertain": "uncertain", "suppressed": "suppressed", "rejected": "rejected",
}


def _state(message_id):
    db.session.expire_all()
    return db.session.get(OutboxMessage, message_id)


def _one_of_each(make, trigger=None):
    now = utcnow()
    trigger = trigger or make.trigger(name="Welcome series")
    extra = {
        "approved": dict(approved_at=now, hold_until=now + timedelta(minutes=9)),
        "sent": dict(sent_at=now, smtp_reply="250 2.0.0 Ok: queued"),
        "failed": dict(failed_at=now, reason="550 5.1.1 user unknown"),
        "uncertain": dict(reason="connection lost after DATA"),
        "suppressed": dict(reason_code="global_delay", reason="global delay: emailed 2 days ago"),
        "rejected": dict(rejected_at=now),
    }
    return {tab: make.outbox_message(trigger=trigger, state=state, subject=f"Subject {tab}",
                                     **extra.get(tab, {}))
            for tab, state in TAB_STATES.items()}


def test_each_tab_lists_only_its_state_with_counts(login, make):
    client = login("viewer")
    messages = _one_of_each(make)
    for tab in TAB_STATES:
        body = client.get(f"/outbox/?tab={tab}").get_data(as_text=True)
        assert messages[tab].to_email in body, tab
        assert sum(m.to_email in body for m in messages.values()) == 1, tab
        assert f'data-tab="{tab}"' in body
    body = client.get("/outbox/?tab=failed").get_data(as_text=True)
    assert "550 5.1.1 user unknown" in body
    assert "Global delay" in client.get("/outbox/?tab=suppressed").get_data(as_text=True)
    uncertain = client.get("/outbox/?tab=uncertain").get_data(as_text=True)
    assert "What “uncertain” means" in uncertain
    # Every tab's count is 1.
    assert body.count('<span class="count') == 7
    assert body.count('">1</span>') >= 7


def test_unknown_tab_and_bad_paging_fall_back(login, make):
    client = login("viewer")
    make.outbox_message(subject="Still here")
    for query in ("tab=nope", "page=abc", "page=-3", "page=999", "trigger=x&account=%27"):
        resp = client.get(f"/outbox/?{query}")
        assert resp.status_code == 200, query
        assert "Still here" in resp.get_data(as_text=True), query


def test_filter_by_trigger_and_account_search(login, make):
    client = login("viewer")
    acme, globex = make.account(name="Acme Corp"), make.account(name="Globex 100%")
    t1, t2 = make.trigger(name="Onboarding"), make.trigger(name="Renewal")
    make.outbox_message(trigger=t1, contact=make.contact(account=acme), subject="acme-onboarding")
    make.outbox_message(trigger=t2, contact=make.contact(account=globex, email="zed@globex.io"),
                        subject="globex-renewal")
    body = client.get(f"/outbox/?trigger={t1.id}").get_data(as_text=True)
    assert "acme-onboarding" in body and "globex-renewal" not in body
    body = client.get("/outbox/?q=acme").get_data(as_text=True)
    assert "acme-onboarding" in body and "globex-renewal" not in body
    body = client.get("/outbox/?q=zed@globex").get_data(as_text=True)
    assert "globex-renewal" in body and "acme-onboarding" not in body
    body = client.get("/outbox/?q=100%25").get_data(as_text=True)  # % is literal, not a wildcard
    assert "globex-renewal" in body and "acme-onboarding" not in body
    body = client.get(f"/outbox/?account={globex.id}").get_data(as_text=True)
    assert "globex-renewal" in body and "acme-onboarding" not in body and "Globex 100%" in body
    # htmx: the fragment only, with tab counts swapped out-of-band.
    frag = client.get(f"/outbox/?trigger={t2.id}", headers=HX).get_data(as_text=True)
    assert "<html" not in frag and 'hx-swap-oob="true"' in frag and "globex-renewal" in frag
    empty = client.get("/outbox/?q=nobody-matches").get_data(as_text=True)
    assert "No emails match these filters" in empty


def test_viewer_sees_no_controls_and_gets_403(login, make):
    client = login("viewer")
    message = make.outbox_message()
    body = client.get("/outbox/").get_data(as_text=True)
    assert "/outbox/approve" not in body and ">Approve<" not in body and ">Reject<" not in body
    assert 'name="ids"' not in body and "needs the approver role" in body
    for action in ("approve", "reject", "unapprove", "resend", "dismiss"):
        assert client.post(f"/outbox/{action}", data={"one": message.id}).status_code == 403
    assert client.post("/outbox/approve-all", data={"trigger_id": message.trigger_id,
                                                    "confirm": "yes"}).status_code == 403
    detail = client.get(f"/outbox/{message.id}").get_data(as_text=True)
    assert 'action="/outbox/approve"' not in detail
    assert _state(message.id).state == "pending_approval"


@pytest.mark.parametrize("role", ["approver", "manager", "admin"])
def test_approvers_approve_one_and_it_records_who_and_when(login, make, role):
    client = login(role)
    message, other = make.outbox_message(), make.outbox_message()
    before = utcnow()
    resp = client.post("/outbox/approve", data={"one": message.id, "ids": [other.id], "tab": "waiting"},
                       headers=HX)
    assert resp.status_code == 200
    toast = json.loads(resp.headers["HX-Trigger"])
    assert toast["toast"].startswith("Approved 1 email") and toast["outbox-waiting"] == 1
    approved = _state(message.id)
    assert approved.state == "approved" and approved.approved_by_id == client.staff.id
    assert approved.approved_at >= before - timedelta(seconds=1)
    assert approved.hold_until == approved.approved_at + timedelta(minutes=10)
    # The row's own button wins over ticked checkboxes.
    assert _state(other.id).state == "pending_approval"
    assert 'id="outbox-tabs"' in resp.get_data(as_text=True)


def test_bulk_approve_and_reject(login, make):
    client = login("approver")
    ids = [make.outbox_message().id for _ in range(3)]
    sent = make.outbox_message(state="sent")
    resp = client.post("/outbox/approve", data={"ids": ids[:2] + [sent.id, "junk"]}, headers=HX)
    assert "Approved 2 emails" in json.loads(resp.headers["HX-Trigger"])["toast"]
    assert "1 email had already moved on" in json.loads(resp.headers["HX-Trigger"])["toast"]
    assert [_state(i).state for i in ids] == ["approved", "approved", "pending_approval"]
    assert _state(sent.id).state == "sent"
    resp = client.post("/outbox/reject", data={"ids": [ids[2]]}, headers=HX)
    rejected = _state(ids[2])
    assert rejected.state == "rejected" and rejected.rejected_by_id == client.staff.id
    resp = client.post("/outbox/reject", data={}, headers=HX)
    assert "Select at least one" in json.loads(resp.headers["HX-Trigger"])["toast"]


def test_plain_form_post_redirects_back_with_flash(login, make):
    client = login("approver")
    trigger = make.trigger()
    message = make.outbox_message(trigger=trigger)
    resp = client.post("/outbox/approve", data={"one": message.id, "tab": "waiting",
                                                "trigger": trigger.id})
    assert resp.status_code == 302
    assert f"trigger={trigger.id}" in resp.headers["Location"]
    assert "Approved 1 email" in client.get(resp.headers["Location"]).get_data(as_text=True)
    # From the detail page, back to the detail page.
    other = make.outbox_message()
    resp = client.post("/outbox/reject", data={"one": other.id, "next": "detail"})
    assert resp.headers["Location"].endswith(f"/outbox/{other.id}")


def test_approve_all_for_a_trigger_needs_confirmation(login, make):
    client = login("manager")
    trigger, other_trigger = make.trigger(name="Renewal nudge"), make.trigger()
    mine = [make.outbox_message(trigger=trigger).id for _ in range(3)]
    theirs = make.outbox_message(trigger=other_trigger).id
    page = client.get(f"/outbox/approve-all?trigger_id={trigger.id}").get_data(as_text=True)
    assert "Approve all 3 emails from “Renewal nudge”?" in page
    # A POST without the confirmation only shows the question.
    resp = client.post("/outbox/approve-all", data={"trigger_id": trigger.id})
    assert resp.status_code == 200 and "Approve all 3" in resp.get_data(as_text=True)
    assert all(_state(i).state == "pending_approval" for i in mine)
    resp = client.post("/outbox/approve-all", data={"trigger_id": trigger.id, "confirm": "yes",
                                                    "tab": "waiting"}, headers=HX)
    assert "Approved all 3 emails" in json.loads(resp.headers["HX-Trigger"])["toast"]
    assert all(_state(i).state == "approved" and _state(i).approved_by_id == client.staff.id
               for i in mine)
    assert _state(theirs).state == "pending_approval"
    assert client.get("/outbox/approve-all?trigger_id=999999").status_code == 404
    assert client.post("/outbox/approve-all", data={"trigger_id": "x"}).status_code == 404


def test_waiting_tab_offers_approve_all_per_trigger(login, make):
    client = login("approver")
    t1, t2 = make.trigger(name="Alpha"), make.trigger(name="Beta")
    make.outbox_message(trigger=t1)
    make.outbox_message(trigger=t2)
    body = client.get("/outbox/").get_data(as_text=True)
    assert "Waiting by trigger" in body and body.count("Approve all") >= 2
    body = client.get(f"/outbox/?trigger={t1.id}").get_data(as_text=True)
    assert "Approve all 1" in body


def test_unapprove_within_the_hold_and_not_after(login, make, app):
    client = login("approver")
    message, late = make.outbox_message(), make.outbox_message()
    now = utcnow()
    engine_outbox.approve([message.id], client.staff.id, now)
    engine_outbox.approve([late.id], client.staff.id, now - timedelta(minutes=11))  # hold over
    db.session.commit()
    body = client.get("/outbox/?tab=approved").get_data(as_text=True)
    assert f'data-countdown="{_state(message.id).hold_until.isoformat()}Z"' in body
    assert body.count(">Unapprove <") == 1  # only the row whose hold still runs
    resp = client.post("/outbox/unapprove", data={"one": message.id, "tab": "approved"}, headers=HX)
    assert "Unapproved 1 email" in json.loads(resp.headers["HX-Trigger"])["toast"]
    back = _state(message.id)
    assert back.state == "pending_approval" and back.approved_by_id is None
    resp = client.post("/outbox/unapprove", data={"one": late.id, "tab": "approved"}, headers=HX)
    assert "Too late" in json.loads(resp.headers["HX-Trigger"])["toast"]
    assert _state(late.id).state == "approved"


def test_uncertain_resend_and_dismiss(login, make):
    client = login("approver")
    a, b = (make.outbox_message(state="uncertain", reason="lost after DATA") for _ in range(2))
    body = client.get("/outbox/?tab=uncertain").get_data(as_text=True)
    assert "Resend" in body and "Dismiss" in body and "may or may not have arrived" in body
    resp = client.post("/outbox/resend", data={"one": a.id, "tab": "uncertain"}, headers=HX)
    assert "Queued 1 email" in json.loads(resp.headers["HX-Trigger"])["toast"]
    resent = _state(a.id)
    assert resent.state == "approved" and resent.approved_by_id == client.staff.id
    client.post("/outbox/dismiss", data={"ids": [b.id]}, headers=HX)
    assert _state(b.id).state == "failed"
    resp = client.post("/outbox/dismiss", data={"ids": [b.id]}, headers=HX)
    assert "Nothing dismissed" in json.loads(resp.headers["HX-Trigger"])["toast"]


def test_message_detail(login, make):
    client = login("approver")
    trigger = make.trigger(name="Nurture", from_email="cs@acme.test", reply_to_email="help@acme.test",
                           reply_to_name="Acme Help", bcc="log@acme.test")
    html = '<p onclick="x()">Hi <b>there</b> "quoted"</p><script>alert(1)</script>'
    message = make.outbox_message(trigger=trigger, state="sent", html=html, text="Hi there",
                                  subject="<i>Hello</i>", sent_at=utcnow(), smtp_reply="250 queued as ABC",
                                  approved_by_id=client.staff.id, approved_at=utcnow())
    from engine import tracking
    tracking.record_click(message.id, 0, utcnow())  # no link: nothing recorded
    tracking.record_open(message.id, utcnow())
    body = client.get(f"/outbox/{message.id}").get_data(as_text=True)
    assert 'sandbox=""' in body and "srcdoc=" in body
    assert "<script>alert(1)</script>" not in body  # only escaped inside srcdoc
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&lt;i&gt;Hello&lt;/i&gt;" in body
    assert "cs@acme.test" in body and "Acme Help" in body and "log@acme.test" in body
    assert "250 queued as ABC" in body and "Hi there" in body
    assert f"Approved by {client.staff.display_name}" in body
    assert "Opened" in body
    assert client.get("/outbox/999999").status_code == 404


def test_detail_shows_actions_by_state(login, make):
    client = login("approver")
    waiting = make.outbox_message()
    body = client.get(f"/outbox/{waiting.id}").get_data(as_text=True)
    assert 'action="/outbox/approve"' in body and 'action="/outbox/reject"' in body
    engine_outbox.approve([waiting.id], client.staff.id, utcnow())
    db.session.commit()
    body = client.get(f"/outbox/{waiting.id}").get_data(as_text=True)
    assert 'action="/outbox/unapprove"' in body and "data-countdown" in body


def test_pagination_50_per_page(login, make):
    client = login("viewer")
    trigger = make.trigger()
    contact = make.contact()
    now = utcnow()
    db.session.add_all([
        OutboxMessage(trigger_id=trigger.id, contact_id=contact.id, account_id=contact.account_id,
                      occurrence_key=f"k{i}", state="pending_approval", subject=f"msg-{i:03d}",
                      created_at=now + timedelta(seconds=i))
        for i in range(55)])
    db.session.commit()
    first = client.get("/outbox/").get_data(as_text=True)
    assert "msg-000" in first and "msg-049" in first and "msg-050" not in first
    assert "1–50 of 55" in first
    second = client.get("/outbox/?page=2").get_data(as_text=True)
    assert "msg-050" in second and "msg-054" in second and "msg-049" not in second


def _count_queries(app, fn):
    statements = []

    def before(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
    return len(statements)


def test_list_queries_do_not_grow_with_rows(login, make, app):
    client = login("viewer")
    trigger = make.trigger()
    staff = client.staff
    for _ in range(2):
        make.outbox_message(trigger=trigger, state="approved", approved_by_id=staff.id,
                            approved_at=utcnow(), hold_until=utcnow() + timedelta(minutes=5))
    few = _count_queries(app, lambda: client.get("/outbox/?tab=approved"))
    colleague = make.staff(role="approver")
    for i in range(12):
        make.outbox_message(state="approved", approved_by_id=(colleague if i % 2 else staff).id,
                            approved_at=utcnow(), hold_until=utcnow() + timedelta(minutes=5))
    many = _count_queries(app, lambda: client.get("/outbox/?tab=approved"))
    assert many == few
    for tab in ("sent", "rejected"):
        make.outbox_message(state=TAB_STATES[tab])
        assert _count_queries(app, lambda: client.get(f"/outbox/?tab={tab}")) <= few + 2


def test_actions_need_the_csrf_token(login, make, app):
    app.config["WTF_CSRF_ENABLED"] = True
    client = login("approver")
    message = make.outbox_message()
    assert client.post("/outbox/approve", data={"one": message.id}).status_code == 400
    assert _state(message.id).state == "pending_approval"
    page = client.get("/outbox/").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    resp = client.post("/outbox/approve", data={"one": message.id}, headers={**HX, "X-CSRFToken": token})
    assert resp.status_code == 200 and _state(message.id).state == "approved"


# -- Big runs are rendered by jobs a little later: the pages render what they show ------------

RUN_AT = datetime(2026, 1, 5, 8, 0, 30)


def _unrendered_run(make, monkeypatch, n=3, **contact_kw):
    """A run too big to render inline (SYNC_RENDER_LIMIT=1): its rows wait with subject NULL
    for render jobs nobody runs here."""
    from engine.render import messages as outbox_render
    from engine.triggers.generate import generate_step

    monkeypatch.setattr(outbox_render, "SYNC_RENDER_LIMIT", 1)
    contacts = [make.contact(**contact_kw) for _ in range(n)]
    trigger = make.trigger(name="Big run", subject="Hello {{ contact.first_name }}",
                           html="<p>Dear {{ contact.first_name }}</p>")
    summary = generate_step(RUN_AT)[str(trigger.id)]
    assert summary["created"] == n and summary["render_queued"] == n
    rows = db.session.query(OutboxMessage).filter_by(trigger_id=trigger.id).order_by(OutboxMessage.id).all()
    assert [r.subject for r in rows] == [None] * n
    return trigger, contacts, rows


def _subjects(ids):
    db.session.expire_all()
    return {m.id: m.subject for m in db.session.query(OutboxMessage).filter(OutboxMessage.id.in_(ids))}


def test_the_list_renders_the_unrendered_rows_it_shows_and_only_those(login, make, monkeypatch):
    from blueprints.outbox import queries

    client = login("viewer")
    trigger, contacts, rows = _unrendered_run(make, monkeypatch)
    monkeypatch.setattr(queries, "PER_PAGE", 2)
    body = client.get(f"/outbox/?trigger={trigger.id}").get_data(as_text=True)
    assert f"Hello {contacts[0].first_name}" in body and f"Hello {contacts[1].first_name}" in body
    assert "(not rendered)" not in body
    # Only the page's rows were rendered; the third waits for its render job (or page 2).
    assert _subjects([r.id for r in rows]) == {
        rows[0].id: f"Hello {contacts[0].first_name}", rows[1].id: f"Hello {contacts[1].first_name}",
        rows[2].id: None}
    second = client.get(f"/outbox/?trigger={trigger.id}&page=2", headers=HX).get_data(as_text=True)
    assert f"Hello {contacts[2].first_name}" in second
    assert _subjects([rows[2].id]) == {rows[2].id: f"Hello {contacts[2].first_name}"}


def test_the_message_page_renders_an_unrendered_message(login, make, monkeypatch):
    client = login("viewer")
    _, contacts, rows = _unrendered_run(make, monkeypatch, n=2)
    body = client.get(f"/outbox/{rows[1].id}").get_data(as_text=True)
    assert f"<h1>Hello {contacts[1].first_name}</h1>" in body
    assert f"Dear {contacts[1].first_name}" in body  # the HTML body in the preview frame
    assert _subjects([r.id for r in rows]) == {rows[0].id: None,
                                               rows[1].id: f"Hello {contacts[1].first_name}"}


def test_a_row_that_cannot_render_is_shown_as_failed_not_waiting(login, make, monkeypatch):
    client = login("viewer")
    _, _, rows = _unrendered_run(make, monkeypatch, n=2, first_name="Eve\r\nBcc: all@example.com")
    body = client.get("/outbox/").get_data(as_text=True)
    assert all(f'id="msg-{r.id}"' not in body for r in rows)  # no longer waiting
    failed = client.get("/outbox/?tab=failed").get_data(as_text=True)
    assert all(f'id="msg-{r.id}"' in failed for r in rows) and "line break" in failed
    detail = client.get(f"/outbox/{rows[0].id}").get_data(as_text=True)
    assert "(not rendered)" in detail and "line break" in detail
