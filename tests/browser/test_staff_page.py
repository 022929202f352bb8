"""Settings -> Staff (issue 15, defect 9 second half): the Remove confirmation of the last
row must be fully visible, not clipped by the card or the table's scroll box."""
import pytest
from playwright.sync_api import expect

from extensions import db
from tests import factories
from tests.browser import shot

pytestmark = pytest.mark.browser

# Visible part of an element: its box intersected with every ancestor that clips overflow.
VISIBLE_BOX = """el => {
  let r = el.getBoundingClientRect();
  let box = {left: r.left, top: r.top, right: r.right, bottom: r.bottom};
  for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
    const s = getComputedStyle(p);
    if (s.overflowX !== 'visible' || s.overflowY !== 'visible') {
      const q = p.getBoundingClientRect();
      box = {left: Math.max(box.left, q.left), top: Math.max(box.top, q.top),
             right: Math.min(box.right, q.right), bottom: Math.min(box.bottom, q.bottom)};
    }
  }
  return {full: [r.left, r.top, r.right, r.bottom], visible: [box.left, box.top, box.right, box.bottom]};
}"""


def _assert_not_clipped(locator):
    boxes = locator.evaluate(VISIBLE_BOX)
    full, visible = boxes["full"], boxes["visible"]
    assert all(abs(a - b) < 1 for a, b in zip(full, visible)), f"clipped: {full} shown as {visible}"


@pytest.mark.parametrize("width", [1360, 1280, 390])
def test_the_remove_confirmation_of_the_last_row_is_not_clipped(_browser, live_server, width):
    from tests.conftest import sign_in

    context = _browser.new_context(viewport={"width": width, "height": 900}, timezone_id="UTC")
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, live_server.url, "admin")
        factories.staff(role="viewer", email="zoe.last@example.com")  # sorted last
        db.session.commit()
        page.goto(live_server.url + "/settings/staff")
        row = page.locator("tr", has_text="zoe.last@example.com")
        row.locator("summary", has_text="Remove").click()
        box = row.locator(".confirm-box")
        expect(box).to_be_visible()
        button = box.get_by_role("button", name="Remove login")
        _assert_not_clipped(box)
        # Every row's buttons stay inside the card (the card no longer clips, so it must fit).
        card_right = page.locator(".card", has=page.locator(".staff-table")).evaluate("el => el.getBoundingClientRect().right")
        table_right = page.locator(".staff-table").evaluate("el => el.getBoundingClientRect().right")
        assert table_right <= card_right + 0.5
        # ... and not reachable only by scrolling a box inside the card.
        assert box.evaluate("el => { let n = 0; for (let p = el.parentElement; p; p = p.parentElement)"
                            " { if (p !== document.documentElement && p !== document.body) n += p.scrollTop; }"
                            " return n; }") == 0
        if width == 1360:
            shot(page, "staff-remove-confirm")
        elif width == 390:
            shot(page, "staff-remove-confirm-390")
        button.click()
        expect(page.locator(".flashes .flash").first).to_contain_text("zoe.last@example.com can no longer sign in")
    finally:
        context.close()
