"""Staff role changes ask first (issue 15, defect 9): changing the dropdown used to
apply at once, promotion to admin included."""
import pytest
from playwright.sync_api import expect

from extensions import db
from models import Staff
from tests import factories

pytestmark = pytest.mark.browser


def _role(staff_id):
    db.session.rollback()  # see what the server committed
    return db.session.get(Staff, staff_id).role


def test_a_role_change_is_confirmed_and_a_no_keeps_the_role(page):
    page.login("admin")
    vera = factories.staff(role="viewer", email="vera@example.com")
    db.session.commit()
    page.goto(page.base + "/settings/staff")
    select = page.get_by_label("Role of vera@example.com")
    asked = []

    def answer(accept):
        def handle(dialog):
            asked.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()
        return handle

    page.once("dialog", answer(False))
    select.select_option("admin")
    expect(select).to_have_value("viewer")  # back to the saved role
    assert asked == ["Make vera@example.com an admin? Admins manage staff, API keys and "
                     "every setting. It applies at once."]
    assert _role(vera.id) == "viewer"

    page.once("dialog", answer(True))
    select.select_option("manager")
    expect(page.locator(".flashes .flash").first).to_contain_text("vera@example.com")
    assert "Change the role of vera@example.com to Manager?" in asked[-1]
    assert _role(vera.id) == "manager"
    expect(page.get_by_label("Role of vera@example.com")).to_have_value("manager")
