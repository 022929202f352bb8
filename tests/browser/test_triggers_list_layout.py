"""The triggers list keeps Status and Actions on screen from 1280 px up (issue 15:
with send times labelled in two zones the Actions column had fallen off at 1280 px).
Below 1440 px the start date moves under the kind instead of taking a column; on a
phone each trigger is a card with its Actions menu full width."""
from datetime import datetime

import pytest
from playwright.sync_api import expect

from extensions import db
from tests.conftest import sign_in

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [390, 1280, 1440])
def test_status_and_actions_stay_on_screen(_browser, live_server, make, width):
    context = _browser.new_context(viewport={"width": width, "height": 900},
                                   timezone_id="America/New_York")
    page = context.new_page()
    try:
        sign_in(page, live_server.url, "manager")
        persona = make.persona(name="Admins at big accounts who went quiet for a long while")
        for i in range(3):
            make.trigger(name=f"Re-engage dormant admins at enterprise accounts {i}",
                         description="Admins at big accounts who went quiet after their trial",
                         timezone="Europe/Berlin", started_at=datetime(2026, 11, 19, 9, 0),
                         kind="persona_enter" if i == 2 else "schedule",
                         persona_id=persona.id if i == 2 else None)
        db.session.commit()
        page.goto(live_server.url + "/triggers/")
        rows = page.locator("#trigger-list tbody tr")
        expect(rows).to_have_count(3)
        for row in rows.all():
            for part in (row.locator(".badge").last, row.locator("summary", has_text="Actions")):
                box = part.bounding_box()
                assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (width, box)
        start_column = page.get_by_role("columnheader", name="Start date")
        started = rows.first.locator(".start-inline")
        if width < 1440:
            expect(start_column).to_be_hidden()
            expect(started).to_have_text("Since 19 Nov 2026")
        else:
            expect(start_column).to_be_visible()
            expect(started).to_be_hidden()
        rows.first.locator("summary", has_text="Actions").click()
        expect(rows.first.get_by_role("link", name="Deactivate…")).to_be_visible()
    finally:
        context.close()
