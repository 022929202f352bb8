"""Template editor in a real browser: the variable picker inserts at the cursor of the
last-focused field (also inside an HTML attribute), the live preview follows the
typing and the chosen contact, and save errors come back with their line."""
import re

import pytest
from playwright.sync_api import expect

from extensions import db
from models import EmailTemplate

pytestmark = pytest.mark.browser


def test_picker_preview_and_save(page, make):
    acc = make.account(name="Globex")
    make.contact(account=acc, first_name="Ann", email="ann@globex.test")
    make.contact(account=acc, first_name="Zed", email="zed@globex.test")
    page.login("manager")
    page.goto(page.base + "/templates/new")

    page.fill("input[name=name]", "Welcome")
    page.fill("input[name=subject]", "Hello ")
    page.click("input[name=subject]")
    page.keyboard.press("End")
    page.click("[data-insert-var='{{ contact.first_name }}']")
    expect(page.locator("input[name=subject]")).to_have_value("Hello {{ contact.first_name }}")

    html = page.locator("textarea[name=html]")
    html.fill('<p>Hi at </p><a href="">Unsubscribe</a>')
    html.evaluate("el => { const i = el.value.indexOf('</p>'); el.focus(); el.setSelectionRange(i, i); }")
    expect(page.locator("[data-var-target-label]")).to_have_text("the HTML body")
    page.click("[data-insert-var='{{ account.name }}']")
    html.evaluate("el => { const i = el.value.indexOf('href=\"') + 6; el.focus(); el.setSelectionRange(i, i); }")
    page.click("[data-insert-var='{{ unsubscribe_url }}']")
    expect(html).to_have_value('<p>Hi at {{ account.name }}</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>')

    # The live preview renders for the first contact, then for the one searched for.
    expect(page.locator(".tpl-rendered-subject")).to_have_text("Hello Ann")
    expect(page.locator("iframe.tpl-frame")).to_have_attribute("sandbox", "")
    # Wait for the preview of the final HTML (an earlier, debounced request may land first).
    expect(page.locator("iframe.tpl-frame")).to_have_attribute("srcdoc", re.compile("Hi at Globex"))
    page.fill("input[name=sample_q]", "zed")
    expect(page.locator(".tpl-rendered-subject")).to_have_text("Hello Zed")

    # A typo shows in the preview as you type, and on save next to the field, with its line.
    html.fill("<p>ok</p>\n<p>{{ contact.first_nme }}</p>")
    expect(page.locator("#preview .tpl-errors")).to_contain_text("line 2")
    page.click("button.btn-primary[type=submit]")
    expect(page.locator(".field.has-error .error")).to_contain_text("Line 2: Unknown variable 'contact.first_nme'")
    assert db.session.scalar(db.select(db.func.count()).select_from(EmailTemplate)) == 0

    html.fill("<p>Hi {{ contact.first_name }}</p>")
    page.click("button.btn-primary[type=submit]")
    expect(page.locator("h1")).to_have_text("Welcome")
    expect(page.locator(".badge", has_text="Generated from the HTML")).to_be_visible()
