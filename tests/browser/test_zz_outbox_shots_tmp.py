"""Temporary: screenshots of the outbox pages (deleted after use)."""
from datetime import timedelta
import pytest
from models.base import utcnow
from engine import tracking

HTML = """<html><body style="font-family:Arial,sans-serif;color:#222;background:#f4f5f7;margin:0;padding:24px">
<div style="max-width:560px;margin:0 auto;background:#fff;border-radius:8px;padding:28px">
<h2 style="margin-top:0">Hi {name},</h2>
<p>We noticed you haven't created a report in a while. Reports are the fastest way to share progress with your team.</p>
<p><a href="https://app.example.com/reports/new" style="background:#4f46e5;color:#fff;padding:10px 18px;border-radius:6px;text-decoration:none">Create a report</a></p>
<p style="color:#888;font-size:12px">Don't want these emails? <a href="{unsub}">Unsubscribe</a></p>
</div></body></html>"""

@pytest.mark.browser
def test_shots(page, make, app):
    staff = page.login("approver")
    now = utcnow()
    t1 = make.trigger(name="Re-engage inactive admins")
    t2 = make.trigger(name="Welcome — first week")
    t3 = make.trigger(name="Feature promo: Dashboards")
    accs = [make.account(name=n) for n in ("Acme Corp", "Globex", "Initech", "Umbrella Health", "Stark Industries")]
    people = [("Ada", "Lovelace"), ("Grace", "Hopper"), ("Alan", "Turing"), ("Linus", "Torvalds"), ("Margaret", "Hamilton"), ("Ken", "Thompson"), ("Barbara", "Liskov"), ("Dennis", "Ritchie")]
    contacts = []
    for i, (f, l) in enumerate(people * 2):
        contacts.append(make.contact(account=accs[i % 5], first_name=f, last_name=l, email=f"{f.lower()}.{l.lower()}{i}@{accs[i%5].name.split()[0].lower()}.com"))
    msgs = {}
    def mk(trigger, c, state, **kw):
        m = make.outbox_message(trigger=trigger, contact=c, state=state, subject=f"{c.first_name}, your reports miss you", html=HTML.format(name=c.first_name, unsub="http://127.0.0.1:5000/u/x"), text=f"Hi {c.first_name},\n\nWe noticed you haven't created a report in a while.\n\nCreate a report: https://app.example.com/reports/new", **kw)
        msgs.setdefault(state, []).append(m)
        return m
    for i, c in enumerate(contacts[:6]):
        mk([t1, t2, t3][i % 3], c, "pending_approval", send_after=now + timedelta(hours=3) if i % 2 else None, created_at=now - timedelta(minutes=30 + i * 7))
    mk(t1, contacts[6], "approved", approved_at=now, approved_by_id=staff.id, hold_until=now + timedelta(minutes=9, seconds=40))
    mk(t2, contacts[7], "approved", approved_at=now - timedelta(minutes=2), approved_by_id=staff.id, hold_until=now + timedelta(minutes=8), send_after=now + timedelta(hours=5))
    mk(t3, contacts[8], "approved", approved_at=now - timedelta(minutes=20), approved_by_id=staff.id, hold_until=now - timedelta(minutes=10))
    s1 = mk(t1, contacts[9], "sent", approved_at=now - timedelta(hours=2), approved_by_id=staff.id, hold_until=now - timedelta(hours=2) + timedelta(minutes=10), claimed_at=now - timedelta(hours=1, minutes=49), sent_at=now - timedelta(hours=1, minutes=49), smtp_reply="250 2.0.0 Ok: queued as 4F1C2A", attempts=0)
    mk(t2, contacts[10], "sent", sent_at=now - timedelta(hours=5), smtp_reply="250 OK")
    mk(t3, contacts[11], "failed", failed_at=now - timedelta(hours=1), reason="550 5.1.1 <x@example.com>: Recipient address rejected: User unknown", attempts=1)
    mk(t1, contacts[12], "uncertain", claimed_at=now - timedelta(minutes=25), reason="connection lost after DATA (SMTPServerDisconnected); it may have been delivered")
    mk(t1, contacts[13], "suppressed", reason="global delay: emailed 2 days ago (limit 3 days)")
    mk(t2, contacts[14], "suppressed", reason="unsubscribed")
    mk(t3, contacts[15], "rejected", rejected_at=now - timedelta(hours=3), rejected_by_id=staff.id)
    mk(t3, contacts[0], "cancelled", reason="trigger deactivated", occurrence_key="x1")
    tracking.record_click(s1.id, 0, now - timedelta(hours=1))
    tracking.record_open(s1.id, now - timedelta(minutes=30))
    for tab in ("waiting", "approved", "sent", "failed", "uncertain", "suppressed", "rejected"):
        page.goto(page.base + f"/outbox/?tab={tab}")
        page.screenshot(path=f"/tmp/shots/outbox/tab_{tab}.png", full_page=True)
    page.goto(page.base + f"/outbox/{s1.id}")
    page.screenshot(path="/tmp/shots/outbox/message_sent.png", full_page=True)
    page.goto(page.base + f"/outbox/{msgs['approved'][0].id}")
    page.screenshot(path="/tmp/shots/outbox/message_approved.png", full_page=True)
    page.goto(page.base + f"/outbox/{msgs['pending_approval'][0].id}")
    page.screenshot(path="/tmp/shots/outbox/message_waiting.png", full_page=True)
    page.goto(page.base + f"/outbox/{msgs['uncertain'][0].id}")
    page.screenshot(path="/tmp/shots/outbox/message_uncertain.png", full_page=True)
    page.goto(page.base + f"/outbox/{msgs['suppressed'][0].id}")
    page.screenshot(path="/tmp/shots/outbox/message_suppressed.png", full_page=True)
    page.goto(page.base + f"/outbox/approve-all?trigger_id={t1.id}")
    page.screenshot(path="/tmp/shots/outbox/confirm_approve_all.png", full_page=True)
    page.goto(page.base + f"/outbox/?tab=waiting&trigger={t1.id}")
    page.check(f"#outbox-list input[name=ids] >> nth=0")
    page.screenshot(path="/tmp/shots/outbox/tab_waiting_trigger_selected.png", full_page=True)
    # public pages
    page.context.clear_cookies()
    page.goto(page.base + f"/u/{tracking.unsubscribe_token(s1.id)}")
    page.screenshot(path="/tmp/shots/outbox/public_unsubscribe.png", full_page=True)
    page.click("button[type=submit]")
    page.screenshot(path="/tmp/shots/outbox/public_unsubscribed.png", full_page=True)
    page.goto(page.base + "/u/forged.token")
    page.screenshot(path="/tmp/shots/outbox/public_invalid.png", full_page=True)
