"""Issue 15 polish on the outbox, in a real browser: the wording of approvals and attempts,
counts that agree with their noun, labelled countdowns, and disabled buttons that stay legible."""
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from extensions import db
from models.base import utcnow

pytestmark = pytest.mark.browser

# The contrast of an element's text on its own (or its nearest painted ancestor's)
# background, times the opacity of the element and its ancestors (WCAG's formula).
CONTRAST = """el => {
  const rgb = s => s.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => { const c = [r, g, b].map(v => { v /= 255; return v <= .03928 ? v / 12.92 : ((v + .055) / 1.055) ** 2.4; });
    return .2126 * c[0] + .7152 * c[1] + .0722 * c[2]; };
  let bg = null, opacity = 1;
  for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
    const st = getComputedStyle(n);
    opacity *= Number(st.opacity);
    const c = rgb(st.backgroundColor);
    if (!bg && (c.length < 4 || c[3] > 0)) bg = c.slice(0, 3);
  }
  bg = bg || [255, 255, 255];
  const fg = rgb(getComputedStyle(el).color).slice(0, 3).map((v, i) => v * opacity + bg[i] * (1 - opacity));
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  return {ratio: (a + .05) / (b + .05), opacity, bg: bg.join(','), fg: fg.map(Math.round).join(',')};
}"""


def test_approved_countdowns_say_what_they_count(page, make):
    page.login("approver")
    now = utcnow()
    staff = make.staff(role="approver", name="Dana Approver")
    m = make.outbox_message(state="approved", approved_at=now, approved_by_id=staff.id,
                            hold_until=now + timedelta(minutes=9, seconds=42),
                            send_after=now + timedelta(minutes=15, seconds=37))
    db.session.commit()
    page.goto(page.base + "/outbox/?tab=approved")
    row = page.locator(f"#msg-{m.id}")
    # Time until the send and the hold's time left: both read as durations, not clock times.
    expect(row.locator(".countdown-pill")).to_have_text(re.compile(r"^\s*Sends in 1[45]:\d\d\s*$"))
    expect(row.get_by_role("button", name=re.compile(r"^Unapprove"))).to_have_text(
        re.compile(r"^\s*Unapprove\s+(9|10):\d\d left\s*$"))
    page.goto(page.base + f"/outbox/{m.id}")
    expect(page.locator(".page-header-actions")).to_contain_text(re.compile(r"Unapprove possible · (9|10):\d\d left"))
    expect(page.locator(".countdown-pill")).to_have_text(re.compile(r"Sends in 1[45]:\d\d"))


def test_approvals_attempts_and_counts_read_as_sentences(page, make):
    page.login("admin")
    now = utcnow()
    trigger = make.trigger(name="Welcome aboard")
    auto = make.outbox_message(trigger=trigger, state="approved", approved_at=now,
                               send_after=now + timedelta(days=1))
    sent = make.outbox_message(trigger=trigger, state="sent", approved_at=now - timedelta(hours=1),
                               sent_at=now, smtp_reply="250 OK")
    retried = make.outbox_message(trigger=trigger, state="sent", approved_at=now - timedelta(hours=1),
                                  sent_at=now, attempts=2, smtp_reply="250 OK")
    make.outbox_message(trigger=trigger)  # one waiting
    db.session.commit()

    page.goto(page.base + f"/outbox/{auto.id}")
    body = page.locator("body")
    expect(body).to_contain_text("Approved automatically")
    expect(body).not_to_contain_text("Approved by automatically")
    expect(body).not_to_contain_text("Attempts")  # nothing tried yet: no "Attempts 0"

    page.goto(page.base + f"/outbox/{sent.id}")
    expect(page.locator("dl.props-narrow")).to_contain_text("Sent on the first attempt")
    expect(page.locator("dl.props-narrow")).not_to_contain_text(re.compile(r"Attempts\s*0"))
    page.goto(page.base + f"/outbox/{retried.id}")
    expect(page.locator("dl.props-narrow")).to_contain_text("Sent on attempt 3")
    expect(page.locator("dl.props-narrow")).to_contain_text("after 2 temporary failures")

    page.goto(page.base + "/outbox/?tab=approved")
    expect(page.locator(f"#msg-{auto.id} .col-when")).to_contain_text("Automatically")
    # One waiting email: its noun agrees ("1 email", never "1 emails").
    page.goto(page.base + f"/outbox/?tab=waiting&trigger={trigger.id}")
    expect(page.locator(".outbox-by-trigger")).to_contain_text("1 email from")
    approve_all = page.locator(".outbox-by-trigger [hx-confirm]")
    assert "1 emails" not in approve_all.get_attribute("hx-confirm")
    page.goto(page.base + f"/outbox/approve-all?trigger_id={trigger.id}")
    expect(page.locator("h1")).to_have_text("Approve the email waiting from “Welcome aboard”?")


def test_disabled_buttons_look_disabled_and_stay_legible(page, make):
    page.login("approver")
    make.outbox_message()
    db.session.commit()
    page.goto(page.base + "/outbox/")
    for name in ("Approve selected", "Reject selected"):
        button = page.get_by_role("button", name=name)
        expect(button).to_be_disabled()
        found = button.evaluate(CONTRAST)
        assert found["ratio"] >= 4.5, (name, found)
        assert found["opacity"] == 1, (name, found)  # greyed, not faded
        enabled_bg = page.evaluate("() => getComputedStyle(document.querySelector('td.row-actions .btn-success')).backgroundColor")
        assert button.evaluate("b => getComputedStyle(b).backgroundColor") != enabled_bg  # still looks disabled
        assert button.evaluate("b => getComputedStyle(b).cursor") == "not-allowed"
    # Ticking a row enables them with their own colours back.
    page.locator("#outbox-list input[name=ids]").first.check()
    expect(page.get_by_role("button", name="Approve selected")).to_be_enabled()
    assert page.get_by_role("button", name="Approve selected").evaluate(CONTRAST)["ratio"] >= 4.5


def test_a_count_of_one_is_singular(page):
    """ "1 people" on the staff list (issue 15 wording): the |plural filter agrees with its count."""
    page.login("admin")
    page.goto(page.base + "/settings/staff")
    expect(page.locator(".card-header").first).to_contain_text("1 person · 1 admin")
    expect(page.locator("body")).not_to_contain_text("1 people")


def test_suppressed_filter_by_reason_and_fold_repeats(page, make):
    page.login("viewer")
    now = utcnow()
    digest = make.trigger(name="Daily digest")
    ann = make.contact(first_name="Ann", last_name="Archer")
    for day in range(12):
        make.outbox_message(trigger=digest, contact=ann, state="suppressed", subject=None,
                            reason_code="global_delay", reason="global delay",
                            created_at=now - timedelta(days=12 - day))
    other = make.outbox_message(state="suppressed", subject=None, reason_code="unsubscribed")
    db.session.commit()

    page.goto(page.base + "/outbox/?tab=suppressed")
    rows = page.locator("#outbox-list tbody tr")
    expect(rows).to_have_count(2)  # Ann's 12 are one row
    ann_row = rows.filter(has_text="Ann Archer")
    expect(ann_row.locator(".col-when")).to_contain_text("12 times")
    expect(ann_row.locator(".col-when")).to_contain_text("since")

    # Filter by reason (htmx): only the unsubscribed one, its chip marked as the current one.
    page.locator("[data-reason-chips] a[data-reason=unsubscribed]").click()
    expect(rows).to_have_count(1)
    expect(page.locator(f"#group-{other.id}")).to_be_visible()
    expect(page).to_have_url(re.compile(r"reason=unsubscribed"))
    expect(page.locator("[data-reason-chips] a[data-reason=unsubscribed]")).to_have_attribute("aria-current", "true")
    page.locator("[data-reason-chips] a", has_text="All reasons").click()
    expect(rows).to_have_count(2)

    # See all: the twelve individual rows of that contact and trigger.
    ann_row.get_by_role("link", name=re.compile(r"^See all 12")).click()
    expect(page.locator("#outbox-list tbody tr")).to_have_count(12)
    expect(page.locator(".filter-chip")).to_contain_text("Contact: Ann Archer")
    expect(page.locator(".outbox-view-switch [aria-current=true]")).to_have_text("Every suppression")
    page.get_by_role("link", name="Grouped by contact and trigger").click()
    expect(page.locator("#outbox-list tbody tr")).to_have_count(1)

    # A reason the tab cannot filter by: said on the page, every row still shown.
    page.goto(page.base + "/outbox/?tab=suppressed&reason=bogus")
    expect(page.locator(".outbox-alert")).to_contain_text("“bogus” is not a reason this tab can filter by")
    expect(page.locator("#outbox-list tbody tr")).to_have_count(2)
