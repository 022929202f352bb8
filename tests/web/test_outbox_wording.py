"""Issue 15 polish: the outbox's words -- approvals, attempts, counts that agree with their noun."""
from datetime import timedelta

from blueprints.outbox.history import message_history
from blueprints.ui import count_noun
from models.base import utcnow


def test_count_noun_agrees_with_its_number():
    assert count_noun(1, "email") == "1 email"
    assert count_noun(0, "email") == "0 emails"
    assert count_noun(12345, "email") == "12,345 emails"
    assert count_noun(1, "person", "people") == "1 person"
    assert count_noun(3, "person", "people") == "3 people"
    assert count_noun(None, "time") == "0 times"
    assert count_noun("x", "day") == "x days"  # not a number: shown, never a 500


def test_staff_list_counts_people(login, make):
    client = login("admin")
    body = client.get("/settings/staff").get_data(as_text=True)
    assert "1 person · 1 admin" in body and "1 people" not in body
    make.staff(role="viewer")
    assert "2 people · 1 admin" in client.get("/settings/staff").get_data(as_text=True)


def test_history_names_the_approver_or_says_automatically(app, make):
    now = utcnow()
    staff = make.staff(role="approver", name="Dana Approver")
    by_staff = make.outbox_message(state="approved", approved_at=now, approved_by_id=staff.id,
                                   hold_until=now + timedelta(minutes=10))
    auto = make.outbox_message(state="approved", approved_at=now)
    with app.test_request_context():
        _check_history(by_staff, auto)


def _check_history(by_staff, auto):
    assert "Approved by Dana Approver" in [s.title for s in message_history(by_staff)]
    titles = [s.title for s in message_history(auto)]
    assert "Approved automatically" in titles and not any("by automatically" in t for t in titles)


def test_message_page_attempts(login, make):
    client = login("viewer")
    now = utcnow()
    first = make.outbox_message(state="sent", sent_at=now, approved_at=now)
    third = make.outbox_message(state="sent", sent_at=now, approved_at=now, attempts=2)
    waiting = make.outbox_message(state="approved", approved_at=now)
    retrying = make.outbox_message(state="approved", approved_at=now, attempts=1,
                                   last_error="451 try later", next_attempt_at=now + timedelta(minutes=2))
    body = client.get(f"/outbox/{first.id}").get_data(as_text=True)
    assert "Sent on the first attempt" in body and "<dd>0</dd>" not in body
    body = client.get(f"/outbox/{third.id}").get_data(as_text=True)
    assert "Sent on attempt 3" in body and "after 2 temporary failures" in body
    assert "<dt>Attempts</dt>" not in client.get(f"/outbox/{waiting.id}").get_data(as_text=True)
    body = client.get(f"/outbox/{retrying.id}").get_data(as_text=True)
    assert "1 temporary failure<" in body and "next try" in body
    assert "Approved automatically" in body
