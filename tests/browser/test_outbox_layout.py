"""Issue 15 defect 3: the outbox keeps its actions on screen.

Every tab is filled with the longest things a real outbox holds (long subjects,
long names and addresses, long account and trigger names, dated send times, long
SMTP replies) and looked at in a real browser at 1280 px and 1400 px (the table
fits: nothing hidden to the right, every action button whole, its text not cut)
and at 390 px (a phone: each row is a card, its actions full-size tap targets).

NUDGE_SHOTS=/some/dir saves a screenshot of every tab at every width there."""
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from extensions import db
from models.base import utcnow
from tests.browser import shot

pytestmark = pytest.mark.browser

WIDTHS = (1024, 1280, 1400)  # 1024: a small laptop, the sidebar still shown
PHONE = 390
TABS = ("waiting", "approved", "sent", "failed", "uncertain", "suppressed", "suppressed&view=each", "rejected")
SUBJECT = ("Your quarterly business review is ready: fourteen new insights about how your "
           "whole team uses the analytics workspace")
LONG_REPLY = ("550 5.1.1 <maximiliana.featherstonehaugh-worthington@subsidiary.globex-international"
              "-holdings.example.com>: Recipient address rejected: User unknown in virtual mailbox table")


def seed(make):
    """Rows in every tab, each as long as it gets; returns the approver who approved some."""
    now = utcnow()
    approver = make.staff(role="approver", name="Alexandra Montgomery-Featherstone")
    account = make.account(name="Globex International Holdings & Subsidiaries (EMEA Enterprise Division)")
    trigger = make.trigger(name="Re-engage inactive administrators after their trial has ended")
    other = make.trigger(name="Quarterly business review invitation for enterprise accounts")

    def person(i):
        return make.contact(account=account, first_name=f"Maximiliana-Alexandra{i}",
                            last_name="Featherstonehaugh-Worthington",
                            email=f"maximiliana.alexandra{i}.featherstonehaugh-worthington"
                                  f"@subsidiary.globex-international-holdings.example.com")

    def msg(i, state, **kw):
        kw.setdefault("subject", SUBJECT)
        return make.outbox_message(trigger=kw.pop("trigger", trigger), contact=person(i), state=state, **kw)

    # Waiting: a dated send time (the row that pushed Actions off screen), and one on approval.
    msg(1, "pending_approval", send_after=now + timedelta(days=2, hours=3))
    msg(2, "pending_approval", send_after=now + timedelta(days=2, hours=3), trigger=other)
    msg(3, "pending_approval")
    # Approved: in the hold with a send inside the hour, in the hold with a dated send,
    # an auto-send with no hold, and one retrying after a 4xx.
    msg(4, "approved", approved_at=now, approved_by_id=approver.id,
        hold_until=now + timedelta(minutes=9, seconds=42), send_after=now + timedelta(minutes=15, seconds=37))
    msg(5, "approved", approved_at=now, approved_by_id=approver.id,
        hold_until=now + timedelta(minutes=9), send_after=now + timedelta(days=3, hours=5))
    msg(6, "approved", approved_at=now - timedelta(minutes=1), send_after=now + timedelta(hours=15, minutes=37))
    msg(7, "approved", approved_at=now - timedelta(hours=1), approved_by_id=approver.id, attempts=2,
        last_error="451 4.7.1 Greylisted, please try again in 300 seconds",
        next_attempt_at=now + timedelta(minutes=20), send_after=now - timedelta(hours=1))
    # Sent, failed, uncertain.
    for i in range(8, 10):
        msg(i, "sent", approved_at=now - timedelta(hours=2), sent_at=now - timedelta(hours=1),
            smtp_reply="250 2.0.0 Ok: queued as 4F8C21A0B3")
    msg(10, "failed", failed_at=now - timedelta(minutes=5), reason=LONG_REPLY, attempts=1)
    msg(11, "uncertain", claimed_at=now - timedelta(minutes=30),
        reason="Connection lost after DATA: the server did not confirm the message (timeout after 300 s)")
    # Suppressed, by several controls; rejected by staff and cancelled with the trigger.
    for i, code in ((12, "global_delay"), (13, "retrigger_delay"), (14, "unsubscribed")):
        msg(i, "suppressed", subject=None, reason_code=code,
            reason=f"{code.replace('_', ' ')}: held back by “Quarterly business review invitation "
                   f"for enterprise accounts”, emailed 2 days ago")
    # One contact held back again and again by the same trigger: a folded row.
    again = person(17)
    for day in range(6):
        make.outbox_message(trigger=trigger, contact=again, state="suppressed", subject=None,
                            reason_code="global_delay", created_at=now - timedelta(days=day + 1),
                            reason="global delay: emailed by “Quarterly business review invitation for enterprise accounts”")
    msg(15, "rejected", rejected_at=now - timedelta(hours=3), rejected_by_id=approver.id, reason_code="rejected")
    msg(16, "cancelled", rejected_at=now - timedelta(hours=2), reason_code="trigger_deactivated",
        reason="Cancelled when the trigger was deactivated")
    db.session.commit()
    return approver


# Where each thing the staff member acts on sits, and whether it is cut: a button whose
# box leaves the viewport or the table's visible area, or whose text is clipped.
MEASURE = """() => {
  const vw = document.documentElement.clientWidth;
  const wrap = document.querySelector('#outbox-list .table-wrap');
  const area = wrap.getBoundingClientRect();
  const out = [];
  const cut = el => el.scrollWidth > el.clientWidth + 1;
  wrap.querySelectorAll('tbody tr').forEach(tr => {
    const targets = [...tr.querySelectorAll('td.row-actions .btn, td.row-actions a, a.strong, a.see-all, input[name=ids]')];
    targets.forEach(el => {
      const r = el.getBoundingClientRect();
      const label = `${tr.id} ${el.textContent.trim() || el.name}`;
      if (r.width === 0 || r.height === 0) out.push(`${label}: not shown`);
      if (r.left < Math.max(0, area.left) - 0.5 || r.right > Math.min(vw, area.right) + 0.5)
        out.push(`${label}: box ${Math.round(r.left)}..${Math.round(r.right)} outside ${Math.round(Math.max(0, area.left))}..${Math.round(Math.min(vw, area.right))}`);
      if (el.classList.contains('btn') && cut(el)) out.push(`${label}: text clipped (${el.scrollWidth} > ${el.clientWidth})`);
    });
  });
  if (wrap.scrollWidth > wrap.clientWidth + 1) out.push(`table scrolls sideways: ${wrap.scrollWidth} > ${wrap.clientWidth}`);
  if (document.documentElement.scrollWidth > vw + 1) out.push(`page scrolls sideways: ${document.documentElement.scrollWidth} > ${vw}`);
  return out;
}"""


def _context(browser, width, height=900):
    context = browser.new_context(viewport={"width": width, "height": height}, timezone_id="Europe/Berlin")
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page


def _login(page, base, role):
    from tests.conftest import sign_in

    return sign_in(page, base, role)




def _expected_buttons(tab):
    return {"waiting": ("Approve", "Reject"), "approved": ("Unapprove",),
            "uncertain": ("Resend", "Dismiss"), "suppressed": ("See all",)}.get(tab, ())


@pytest.mark.parametrize("width", WIDTHS)
def test_every_tab_keeps_its_actions_on_screen(_browser, live_server, make, width):
    seed(make)
    context, page = _context(_browser, width)
    try:
        _login(page, live_server.url, "admin")
        for tab in TABS:
            page.goto(f"{live_server.url}/outbox/?tab={tab}")
            rows = page.locator("#outbox-list tbody tr")
            expect(rows.first).to_be_visible()
            shot(page, f"{tab.replace('&view=', '-')}-{width}")
            assert page.evaluate(MEASURE) == [], f"{tab} at {width} px"
            for name in _expected_buttons(tab):
                buttons = page.locator("td.row-actions .btn, a.see-all").filter(has_text=name)
                assert buttons.count() >= 1, (tab, name)
                for i in range(buttons.count()):
                    buttons.nth(i).scroll_into_view_if_needed()  # below the fold, never beside it
                    expect(buttons.nth(i)).to_be_in_viewport(ratio=1)
            if _expected_buttons(tab):
                expect(page.locator("#outbox-list thead th").last).to_be_in_viewport(ratio=1)
    finally:
        context.close()


def test_on_a_phone_each_row_is_a_card_with_usable_actions(_browser, live_server, make):
    seed(make)
    context, page = _context(_browser, PHONE, 844)
    try:
        _login(page, live_server.url, "admin")
        for tab in TABS:
            page.goto(f"{live_server.url}/outbox/?tab={tab}")
            rows = page.locator("#outbox-list tbody tr")
            expect(rows.first).to_be_visible()
            shot(page, f"{tab.replace('&view=', '-')}-{PHONE}")
            assert page.evaluate(MEASURE) == [], f"{tab} at {PHONE} px"
            # A card: the row is a block as wide as the list, its header row hidden, and
            # each value says what it is (the column's label is shown beside it).
            assert page.evaluate("() => getComputedStyle(document.querySelector('#outbox-list thead')).display") == "none"
            for i in range(rows.count()):
                row = rows.nth(i)
                assert row.evaluate("r => getComputedStyle(r).display") != "table-row", tab
                box = row.bounding_box()
                assert box["width"] > PHONE * 0.8 and box["x"] >= 0 and box["x"] + box["width"] <= PHONE, (tab, box)
                labelled = row.locator("td[data-label]")
                assert labelled.count() >= 2, tab
            for name in _expected_buttons(tab):
                buttons = page.locator("td.row-actions .btn, a.see-all").filter(has_text=name)
                assert buttons.count() >= 1, (tab, name)
                for i in range(buttons.count()):
                    button = buttons.nth(i)
                    button.scroll_into_view_if_needed()
                    expect(button).to_be_in_viewport(ratio=1)
                    box = button.bounding_box()
                    assert box["height"] >= 40 and box["width"] >= 44, (tab, name, box)  # a thumb's tap target
        # Ticking a card's box selects it (nothing lies over it); tapping Approve on a card works.
        page.goto(f"{live_server.url}/outbox/?tab=waiting")
        first = page.locator("#outbox-list tbody tr").first
        first.locator("input[name=ids]").check()
        expect(page.locator("[data-selected-count]")).to_have_text("1 selected")
        row_id = first.get_attribute("id")
        first.locator("td.row-actions .btn", has_text="Approve").click()
        expect(page.locator(f"#{row_id}")).to_have_count(0)
    finally:
        context.close()


@pytest.mark.parametrize("width", (1280, PHONE))
def test_message_pages_fit_with_their_actions(_browser, live_server, make, width):
    seed(make)
    from models import OutboxMessage

    ids = dict(db.session.execute(db.select(OutboxMessage.state, db.func.min(OutboxMessage.id))
                                  .group_by(OutboxMessage.state)).all())
    context, page = _context(_browser, width)
    try:
        _login(page, live_server.url, "admin")
        for state, message_id in sorted(ids.items()):
            page.goto(f"{live_server.url}/outbox/{message_id}")
            shot(page, f"message-{state}-{width}")
            assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1"), state
            for button in page.locator(".page-header-actions .btn").all():
                button.scroll_into_view_if_needed()
                expect(button).to_be_in_viewport(ratio=1)
    finally:
        context.close()
