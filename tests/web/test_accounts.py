"""Accounts and contacts pages: search, filters, sort, paging, detail pages, extension points."""
import re
from datetime import timedelta

import pytest

from blueprints.accounts import panels
from models.base import utcnow

HTMX = {"HX-Request": "true"}


def _names(html: str) -> list[str]:
    return re.findall(r'class="row-title" href="[^"]+">([^<]+)</a>', html)


@pytest.fixture
def viewer(login):
    return login("viewer")


@pytest.fixture
def accounts(make):
    acme = make.account(name="Acme Corp", external_id="acme-1", arr=5000, plan="pro")
    beta = make.account(name="Beta Labs", external_id="beta-1", arr=90000, plan="enterprise",
                        status="churned")
    widgets = make.account(name="Acme Widgets", external_id="wid-1", arr=1200, plan="starter")
    pure = make.account(name="100% Pure", external_id="pure_1", arr=None, plan="free")
    now = utcnow()
    make.contact(account=acme, last_seen_at=now - timedelta(hours=2))
    make.contact(account=acme, last_seen_at=now - timedelta(days=40))
    make.contact(account=beta, last_seen_at=now - timedelta(days=200))
    return {"acme": acme, "beta": beta, "widgets": widgets, "pure": pure}


def test_pages_need_login(client):
    for url in ("/accounts", "/contacts", "/accounts/1", "/contacts/1"):
        res = client.get(url)
        assert res.status_code == 302 and "/login" in res.headers["Location"]


def test_accounts_list_has_active_search_and_one_grouped_count(viewer, accounts):
    res = viewer.get("/accounts")
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and "<html" in html
    assert 'name="q"' in html and 'hx-trigger="input changed delay:300ms, search"' in html
    assert 'hx-push-url="true"' in html and 'hx-target="#accounts-results"' in html
    assert _names(html) == ["100% Pure", "Acme Corp", "Acme Widgets", "Beta Labs"]
    row = html[html.index("Acme Corp"):html.index("Acme Widgets")]
    assert "$5,000" in row and ">2</td>" in row and "2 hours ago" in row and "Pro" in row


def test_accounts_search_filter_sort(viewer, accounts):
    html = viewer.get("/accounts?q=acme").get_data(as_text=True)
    assert _names(html) == ["Acme Corp", "Acme Widgets"]
    assert _names(viewer.get("/accounts?q=BETA-1").get_data(as_text=True)) == ["Beta Labs"]
    # LIKE wildcards are matched literally.
    assert _names(viewer.get("/accounts?q=%25").get_data(as_text=True)) == ["100% Pure"]
    assert _names(viewer.get("/accounts?q=_").get_data(as_text=True)) == ["100% Pure"]
    assert _names(viewer.get("/accounts?status=churned").get_data(as_text=True)) == ["Beta Labs"]
    assert _names(viewer.get("/accounts?plan=starter&status=active").get_data(as_text=True)) == ["Acme Widgets"]
    by_arr = _names(viewer.get("/accounts?sort=arr&dir=desc").get_data(as_text=True))
    assert by_arr == ["Beta Labs", "Acme Corp", "Acme Widgets", "100% Pure"]  # no ARR goes last
    assert _names(viewer.get("/accounts?sort=arr&dir=asc").get_data(as_text=True))[-1] == "100% Pure"
    assert _names(viewer.get("/accounts?sort=name&dir=desc").get_data(as_text=True))[0] == "Beta Labs"
    # Unknown values fall back to defaults instead of failing.
    res = viewer.get("/accounts?sort=drop&dir=sideways&status=bogus&plan=nope&page=abc")
    assert res.status_code == 200 and len(_names(res.get_data(as_text=True))) == 4
    empty = viewer.get("/accounts?q=nothing-like-this").get_data(as_text=True)
    assert "No accounts match" in empty and "Clear search" in empty


def test_accounts_htmx_returns_the_results_fragment(viewer, accounts):
    res = viewer.get("/accounts?q=acme&sort=arr&dir=desc", headers=HTMX)
    html = res.get_data(as_text=True)
    assert "<html" not in html and "<table" in html
    assert _names(html) == ["Acme Corp", "Acme Widgets"]
    # Same URL, two bodies: the back button must not show the cached fragment as a page.
    assert "HX-Request" in res.headers["Vary"]
    # The current order rides along with the next search.
    assert 'name="sort" value="arr"' in html and 'name="dir" value="desc"' in html
    # A history restore needs the whole page.
    res = viewer.get("/accounts", headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert "<html" in res.get_data(as_text=True)


def test_accounts_paging(viewer, make):
    for i in range(30):
        make.account(name=f"Company {i:02d}")
    first = viewer.get("/accounts").get_data(as_text=True)
    assert len(_names(first)) == 25 and "1–25 of 30" in first and "page=2" in first
    second = viewer.get("/accounts?page=2").get_data(as_text=True)
    assert _names(second) == [f"Company {i}" for i in range(25, 30)]
    assert _names(viewer.get("/accounts?page=99").get_data(as_text=True)) == _names(second)


def test_account_detail_header_tabs_and_404s(viewer, make, accounts):
    acme = accounts["acme"]
    acme_contact = make.contact(account=acme, first_name="Ann", last_name="Smith", email="ann@acme.test",
                                role="admin", is_crm_contact=True, attributes={"beta": True})
    make.event(acme_contact, name="report_created", properties={"report": "Churn risk"})
    make.event(acme_contact, name="login", occurred_at=utcnow() - timedelta(days=3))
    acme.attributes = {"industry": "Fintech", "health_score": 81}
    from extensions import db
    db.session.commit()

    html = viewer.get(f"/accounts/{acme.id}").get_data(as_text=True)
    for text in ("Acme Corp", "acme-1", "Pro", "$5,000", "Active", "industry", "Fintech", "health_score"):
        assert text in html
    assert "Ann Smith" in html and "ann@acme.test" in html and "CRM" in html and "Product user" in html
    assert 'class="tab active"' in html and "Recent events" in html and "Contacts" in html

    events = viewer.get(f"/accounts/{acme.id}?tab=events").get_data(as_text=True)
    assert events.index("report_created") < events.index("login")  # newest first
    assert "report: Churn risk" in events and "Ann Smith" in events

    fragment = viewer.get(f"/accounts/{acme.id}?tab=events",
                          headers={**HTMX, "HX-Target": "account-tabs"}).get_data(as_text=True)
    assert "<html" not in fragment and 'role="tablist"' in fragment and "report_created" in fragment

    assert viewer.get("/accounts/999999").status_code == 404
    assert viewer.get(f"/accounts/{acme.id}?tab=nope").status_code == 404


def test_account_contacts_tab_pages(viewer, make):
    acc = make.account(name="Big Co")
    for i in range(30):
        make.contact(account=acc, first_name="P", last_name=f"Person{i:02d}")
    page2 = viewer.get(f"/accounts/{acc.id}?tab=contacts&page=2",
                       headers={**HTMX, "HX-Target": "account-tabs"}).get_data(as_text=True)
    assert "26–30 of 30" in page2 and "P Person29" in page2 and "P Person00" not in page2
    assert 'hx-target="#account-tabs"' in page2


def test_other_areas_can_add_an_account_tab_and_a_contact_section(viewer, make, monkeypatch):
    monkeypatch.setattr(panels, "ACCOUNT_TABS", dict(panels.ACCOUNT_TABS))
    monkeypatch.setattr(panels, "CONTACT_SECTIONS", dict(panels.CONTACT_SECTIONS))
    import blueprints.accounts.routes as routes
    monkeypatch.setattr(routes, "ACCOUNT_TABS", panels.ACCOUNT_TABS)
    monkeypatch.setattr(routes, "CONTACT_SECTIONS", panels.CONTACT_SECTIONS)
    panels.account_tab("extra", "Extra tab", "accounts/_tab_events.html", order=30)(
        lambda account, args: {"events": [], "limit": 50})
    panels.contact_section("extra", "Extra section", "accounts/_section_events.html", order=10)(
        lambda contact, args: {"events": [], "total": 0, "page": 1, "per_page": 30, "summary": "hello"})
    contact = make.contact()
    page = viewer.get(f"/accounts/{contact.account_id}").get_data(as_text=True)
    assert page.index("Recent events") < page.index("Extra tab")
    assert viewer.get(f"/accounts/{contact.account_id}?tab=extra").status_code == 200
    html = viewer.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert 'id="section-extra"' in html and html.index("Extra section") < html.index("Event timeline")


def test_contacts_search_and_filters(viewer, make, accounts):
    now = utcnow()
    make.contact(account=accounts["acme"], first_name="Ann", last_name="Smith", email="ann@acme.test",
                 role="admin", is_crm_contact=True, external_id="crm-ann")
    make.contact(account=accounts["beta"], first_name="Bob", last_name="Jones", email="bob@beta.test",
                 role="developer", is_product_user=False, is_crm_contact=True, last_seen_at=None,
                 unsubscribed_at=now - timedelta(days=1))
    get = lambda q: _names(viewer.get("/contacts" + q).get_data(as_text=True))  # noqa: E731
    assert get("?q=ann smi") == ["Ann Smith"]
    assert get("?q=bob@beta") == ["Bob Jones"]
    assert get("?q=CRM-ANN") == ["Ann Smith"]
    assert get("?role=developer") == ["Bob Jones"]
    assert get("?product=no") == ["Bob Jones"]
    assert set(get("?crm=yes")) == {"Ann Smith", "Bob Jones"}
    assert get("?unsubscribed=yes") == ["Bob Jones"]
    assert "Bob Jones" not in get("?unsubscribed=no") and "Ann Smith" in get("?unsubscribed=no")
    assert get("?crm=yes&product=yes") == ["Ann Smith"]
    assert get("?sort=last_seen&dir=desc")[-1] == "Bob Jones"  # never seen goes last
    html = viewer.get("/contacts?q=ann", headers=HTMX).get_data(as_text=True)
    assert "<html" not in html and "Acme Corp" in html
    full = viewer.get("/contacts").get_data(as_text=True)
    assert 'hx-trigger="input changed delay:300ms, search"' in full and "Unsubscribed" in full


def test_contacts_paging(viewer, make):
    acc = make.account()
    for i in range(27):
        make.contact(account=acc, first_name="C", last_name=f"N{i:02d}")
    assert len(_names(viewer.get("/contacts").get_data(as_text=True))) == 25
    assert _names(viewer.get("/contacts?page=2").get_data(as_text=True)) == ["C N25", "C N26"]


def test_contact_detail_profile_attributes_and_timeline(viewer, make, accounts):
    now = utcnow()
    c = make.contact(account=accounts["acme"], first_name="Ann", last_name="Smith", email="ann@acme.test",
                     role="admin", timezone="Europe/Berlin", unsubscribed_at=now - timedelta(days=2),
                     attributes={"beta": True, "seats_used": 12})
    for i in range(35):
        make.event(c, name="export_run" if i == 34 else "login", occurred_at=now - timedelta(hours=40 - i),
                   properties={"format": "csv", "rows": i})
    html = viewer.get(f"/contacts/{c.id}").get_data(as_text=True)
    for text in ("Ann Smith", "ann@acme.test", "Acme Corp", "Admin", "Europe/Berlin", "Unsubscribed",
                 "beta", "seats_used", "12", "Event timeline", "35 events"):
        assert text in html
    timeline = html[html.index('id="section-events"'):]
    assert timeline.index("export_run") < timeline.index("login")  # newest first
    assert "format: csv · rows: 34" in timeline and "1–30 of 35" in timeline
    assert "events_page=2" in timeline and "Activity in the last 30 days" in html

    older = viewer.get(f"/contacts/{c.id}?section=events&events_page=2", headers=HTMX).get_data(as_text=True)
    assert "<html" not in older and "31–35 of 35" in older and "export_run" not in older
    assert "rows: 0" in older
    assert viewer.get("/contacts/999999").status_code == 404


def test_empty_states(viewer):
    assert "No accounts yet" in viewer.get("/accounts").get_data(as_text=True)
    assert "No contacts yet" in viewer.get("/contacts").get_data(as_text=True)


def test_contact_emails_section_pages_on_its_own_parameter(viewer, make):
    contact = make.contact()
    trigger = make.trigger(name="Weekly digest")
    start = utcnow()
    for i in range(27):
        make.outbox_message(trigger=trigger, contact=contact, state="sent", subject=f"Digest no. {i:02d}",
                            created_at=start - timedelta(hours=i))
    html = viewer.get(f"/contacts/{contact.id}").get_data(as_text=True)
    emails = html[html.index('id="section-emails"'):html.index('id="section-events"')]
    assert "27 sent of 27" in emails and "1–25 of 27" in emails and "Weekly digest" in emails
    assert "Digest no. 00" in emails and "Digest no. 25" not in emails and "emails_page=2" in emails
    older = viewer.get(f"/contacts/{contact.id}?section=emails&emails_page=2", headers=HTMX).get_data(as_text=True)
    assert "<html" not in older and "26–27 of 27" in older and "Digest no. 26" in older
    # A page past the end shows the last one.
    late = viewer.get(f"/contacts/{contact.id}?section=emails&emails_page=9", headers=HTMX).get_data(as_text=True)
    assert "26–27 of 27" in late
