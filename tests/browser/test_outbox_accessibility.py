"""axe-core over every outbox tab filled with long rows (tests/browser/test_outbox_layout.py's
seed), at a desktop and a phone width: the card layout, the grouped Suppressed view, the
reason filter, the warning for a bad one and the disabled bulk buttons add no critical or
serious violation (tests/browser/test_accessibility.py sweeps the rest of the app)."""
from collections import Counter

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.browser.test_accessibility import violations_of
from tests.browser.test_outbox_layout import TABS, _context, _login, seed

pytestmark = pytest.mark.browser

EXTRA = ("suppressed&reason=global_delay", "suppressed&reason=bogus", "rejected&reason=rejected")


@pytest.mark.parametrize("width", [1280, 390])
def test_outbox_tabs_have_no_serious_violation(_browser, live_server, make, width):
    seed(make)
    context, page = _context(_browser, width)
    axe, totals, problems = Axe(), Counter(), []
    try:
        _login(page, live_server.url, "admin")
        for tab in TABS + EXTRA:
            page.goto(f"{live_server.url}/outbox/?tab={tab}")
            problems += violations_of(axe, page, f"{tab} at {width}", totals)
        page.goto(f"{live_server.url}/outbox/?tab=waiting")
        page.locator("#outbox-list input[name=ids]").first.check()
        problems += violations_of(axe, page, f"waiting, one selected, at {width}", totals)
    finally:
        context.close()
    assert problems == [], "\n".join(problems)
