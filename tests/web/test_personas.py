"""Persona pages: list, create/edit with the builder, detail, refresh, delete, roles."""
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.personas import refresh_persona
from extensions import db
from models import Persona, PersonaMember, PersonaTransition
from models.base import utcnow

ADMINS = {"user_types": ["product_user"], "all": [{"field": "contact.role", "op": "eq", "value": "admin"}]}


@pytest.fixture
def admins(make):
    acc = make.account(name="Bigco")
    return [make.contact(acc, role="admin", email=f"admin{i}@bigco.test") for i in range(3)]


def save(client, url, name="Admins", rule=ADMINS, **extra):
    text = rule if isinstance(rule, str) else json.dumps(rule)
    return client.post(url, data={"name": name, "description": "", "rule_json": text, **extra})


def test_create_enqueues_a_refresh_and_shows_members(app, login, admins, run_jobs):
    c = login("manager")
    page = c.get("/personas/new").get_data(as_text=True)
    assert 'name="rule_json"' in page and "Visual builder" in page and "Why / why not?" in page
    res = save(c, "/personas/new", name="  Dormant   admins ", description="Who we miss")
    assert res.status_code == 302
    persona = db.session.scalars(select(Persona)).one()
    assert persona.name == "Dormant admins" and persona.rule == ADMINS
    run_jobs()
    detail = c.get(res.headers["Location"]).get_data(as_text=True)
    assert "admin0@bigco.test" in detail and "persona-chart" in detail
    db.session.refresh(persona)
    assert persona.member_count == 3 and persona.last_refreshed_at is not None
    listing = c.get("/personas/").get_data(as_text=True)
    assert "Dormant admins" in listing and "+3" in listing


def test_bad_input_is_refused_and_nothing_saved(app, login, make):
    c = login("admin")
    make.persona(name="Taken")
    res = save(c, "/personas/new", name="taken")
    assert res.status_code == 422 and "already has this name" in res.get_data(as_text=True)
    res = save(c, "/personas/new", name="Broken",
               rule={"all": [{"field": "account.arr", "op": "gt", "value": "lots"}]})
    body = res.get_data(as_text=True)
    assert res.status_code == 422 and "all[0].value" in body and "expected a number" in body
    res = save(c, "/personas/new", name="Broken", rule='{"all": [')
    assert res.status_code == 422 and "malformed JSON" in res.get_data(as_text=True)
    res = save(c, "/personas/new", name="   ")
    assert res.status_code == 422 and "Give the persona a name" in res.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Persona)) == 1


def test_a_rule_number_outside_the_databases_range_is_refused_with_its_path(app, login):
    c = login("admin")
    for value in ("1e40", "9223372036854775808", "-1e300"):
        text = '{"all": [{"field": "contact.attributes.score", "op": "gt", "value": %s}]}' % value
        res = save(c, "/personas/new", name="Huge", rule=text)
        body = res.get_data(as_text=True)
        assert res.status_code == 422 and "all[0].value" in body and "9223372036854775807" in body
    assert db.session.scalar(select(func.count()).select_from(Persona)) == 0


def test_edit_keeps_the_rule_and_refreshes_when_it_changes(app, login, make, admins, run_jobs):
    c = login("manager")
    p = make.persona(name="Admins", rule=ADMINS)
    page = c.get(f"/personas/{p.id}/edit").get_data(as_text=True)
    assert "contact.role" in page and 'value="admin"' in page
    nobody = {"user_types": [], "all": []}
    assert save(c, f"/personas/{p.id}/edit", name="Admins", rule=nobody).status_code == 302
    run_jobs()
    db.session.refresh(p)
    assert p.rule == nobody and p.member_count == 0


def test_detail_shows_chart_table_and_paginated_members(app, login, make):
    acc = make.account()
    for i in range(30):
        make.contact(acc, role="admin", email=f"m{i:02d}@x.test")
    p = make.persona(rule=ADMINS)
    refresh_persona(p.id, utcnow() - timedelta(days=2))
    c = login("viewer")
    html = c.get(f"/personas/{p.id}").get_data(as_text=True)
    assert "Entered vs left" in html and '"enter": [' in html and "Page 1 of 2" in html
    assert "Daily changes" in html and "Role" in html  # rule summary
    part = c.get(f"/personas/{p.id}?page=2", headers={"HX-Request": "true", "HX-Target": "members"})
    assert part.status_code == 200 and "<html" not in part.get_data(as_text=True)
    found = c.get(f"/personas/{p.id}?q=m07@", headers={"HX-Request": "true", "HX-Target": "members"})
    assert "m07@x.test" in found.get_data(as_text=True) and "m08@x.test" not in found.get_data(as_text=True)
    assert c.get("/personas/999999").status_code == 404


def test_refresh_now_enqueues_the_job(app, login, make, admins, run_jobs):
    c = login("manager")
    p = make.persona(rule=ADMINS)
    res = c.post(f"/personas/{p.id}/refresh", headers={"HX-Request": "true"})
    assert res.status_code == 200 and "queued" in res.headers["HX-Trigger"]
    assert 'id="persona-refresh"' in res.get_data(as_text=True)  # the progress partial
    again = c.post(f"/personas/{p.id}/refresh", follow_redirects=True)
    assert "already queued" in again.get_data(as_text=True)
    run_jobs()
    assert db.session.scalar(select(func.count()).select_from(PersonaMember)) == 3


def test_delete_is_refused_while_a_trigger_uses_it(app, login, make, admins):
    c = login("admin")
    p = make.persona(name="Used", rule=ADMINS)
    refresh_persona(p.id, utcnow())
    trigger = make.trigger(name="Welcome back", kind="persona_enter", persona_id=p.id, status="draft")
    res = c.post(f"/personas/{p.id}/delete", follow_redirects=True)
    body = res.get_data(as_text=True)
    assert "cannot be deleted" in body and "Welcome back" in body
    assert db.session.get(Persona, p.id) is not None
    db.session.delete(trigger)
    db.session.commit()
    res = c.post(f"/personas/{p.id}/delete")
    assert res.status_code == 303
    assert db.session.get(Persona, p.id) is None
    assert db.session.scalar(select(func.count()).select_from(PersonaTransition)) == 0
    assert db.session.scalar(select(func.count()).select_from(PersonaMember)) == 0


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_viewers_and_approvers_see_but_cannot_change(app, login, make, role):
    c = login(role)
    p = make.persona(name="Look only", rule=ADMINS)
    listing = c.get("/personas/").get_data(as_text=True)
    assert "Look only" in listing and "New persona" not in listing
    detail = c.get(f"/personas/{p.id}").get_data(as_text=True)
    assert "Refresh now" not in detail and "Delete persona" not in detail
    assert c.get("/personas/new").status_code == 403
    assert save(c, "/personas/new", name="Sneaky").status_code == 403
    assert c.get(f"/personas/{p.id}/edit").status_code == 403
    assert save(c, f"/personas/{p.id}/edit", name="Renamed").status_code == 403
    assert c.post(f"/personas/{p.id}/refresh").status_code == 403
    assert c.post(f"/personas/{p.id}/delete").status_code == 403
    assert db.session.get(Persona, p.id).name == "Look only"


def test_empty_list_invites_the_first_persona(app, login):
    html = login("manager").get("/personas/").get_data(as_text=True)
    assert "No personas yet" in html and "Create the first persona" in html


def test_only_a_new_persona_or_a_changed_rule_rings_for_a_refresh(app, login, make, monkeypatch):
    rung = []

    class Bell:
        def refresh_persona(self, persona_id, as_of=None):
            # Rung after the commit: another connection already sees the saved rule.
            with db.engine.connect() as conn:
                rung.append((persona_id, conn.scalar(select(Persona.rule).where(Persona.id == persona_id))))
            return True

    monkeypatch.setitem(app.extensions, "doorbell", Bell())
    c = login("manager")
    p = make.persona(name="Admins", rule=ADMINS)
    res = save(c, f"/personas/{p.id}/edit", name="Admins again", rule=ADMINS)
    assert res.status_code == 302 and rung == []
    assert "being refreshed" not in c.get(res.headers["Location"]).get_data(as_text=True)
    nobody = {"user_types": [], "all": []}
    assert save(c, f"/personas/{p.id}/edit", name="Admins again", rule=nobody).status_code == 302
    assert rung == [(p.id, nobody)]


def test_refresh_progress_polls_until_the_refresh_is_done(app, login, make, admins, run_jobs):
    """Issue 15: "Refresh now" shows progress (a partial polled every second) and, once the
    refresh is done, the result with what changed; the finished partial stops polling."""
    c = login("manager")
    p = make.persona(rule=ADMINS)
    res = c.post(f"/personas/{p.id}/refresh", headers={"HX-Request": "true"})
    html = res.get_data(as_text=True)
    assert 'data-status="running"' in html and 'hx-trigger="every 1s"' in html
    poll = re.search(r'hx-get="([^"]+refresh-status[^"]+)"', html).group(1).replace("&amp;", "&")
    still = c.get(poll, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-status="running"' in still and "Refreshing the members" in still
    run_jobs()
    done = c.get(poll, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-status="done"' in done and "every 1s" not in done
    assert "3 members" in done and "3 entered" in done and "0 left" in done
    # The finished partial pulls the updated parts of the page in, and they are all there.
    assert 'hx-select-oob="#persona-stats,#persona-daily,#persona-recent,#members,#persona-chart-data"' in done
    page = c.get(f"/personas/{p.id}").get_data(as_text=True)
    for part in ("persona-stats", "persona-daily", "persona-recent", "members", "persona-chart-data"):
        assert f'id="{part}"' in page


def test_refresh_without_javascript_lands_on_the_page_with_its_progress(app, login, make, admins):
    c = login("admin")
    p = make.persona(rule=ADMINS)
    res = c.post(f"/personas/{p.id}/refresh")
    assert res.status_code == 302 and "refreshing=" in res.headers["Location"]
    page = c.get(res.headers["Location"]).get_data(as_text=True)
    assert 'data-status="running"' in page


@pytest.mark.parametrize("since", ["yesterday", "2026-13-45T00:00:00", "2026-01-01T00:00:00+05:00", "9" * 100])
def test_refresh_status_refuses_a_bad_since(app, login, make, since):
    c = login("viewer")
    p = make.persona(rule=ADMINS)
    assert c.get(f"/personas/{p.id}/refresh-status", query_string={"since": since}).status_code == 400


def test_refresh_status_is_read_only_and_needs_a_login(app, login, make):
    p = make.persona(rule=ADMINS)
    c = login("viewer")
    assert c.get(f"/personas/{p.id}/refresh-status?since=2026-01-01T00:00:00").status_code == 200
    assert c.get("/personas/99999/refresh-status?since=2026-01-01T00:00:00").status_code == 404
    assert c.post(f"/personas/{p.id}/refresh").status_code == 403
    with app.app_context():  # a context of its own: Flask-Login keeps the loaded user in `g`
        anonymous = app.test_client().get(f"/personas/{p.id}/refresh-status?since=2026-01-01T00:00:00")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
