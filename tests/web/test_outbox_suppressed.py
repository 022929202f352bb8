"""Issue 15 polish: the Suppressed tab filters by reason code and folds repeated
suppressions of one contact by one trigger ("held back 12 times since 20 Nov") in SQL,
with a way to see every individual row; bad filters are said on the page, never a 500."""
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event

from engine.outbox.suppressed import suppression_groups
from extensions import db

HX = {"HX-Request": "true"}
START = datetime(2026, 11, 20, 8, 0)


def _suppressed(make, contact, trigger, code, n, start=START):
    return [make.outbox_message(trigger=trigger, contact=contact, state="suppressed", subject=None,
                                reason_code=code, reason=f"{code}: held back by “Welcome”",
                                created_at=start + timedelta(days=i))
            for i in range(n)]


@pytest.fixture
def story(make):
    """Ann: held back 12 times by Daily digest (global delay), once by Renewal (unsubscribed);
    Bob: twice by Daily digest (re-trigger delay)."""
    digest, renewal = make.trigger(name="Daily digest"), make.trigger(name="Renewal")
    ann = make.contact(first_name="Ann", last_name="Archer", email="ann@acme.io")
    bob = make.contact(first_name="Bob", last_name="Baker", email="bob@globex.io")
    return {
        "digest": digest, "renewal": renewal, "ann": ann, "bob": bob,
        "ann_digest": _suppressed(make, ann, digest, "global_delay", 12),
        "ann_renewal": _suppressed(make, ann, renewal, "unsubscribed", 1, START + timedelta(days=20)),
        "bob_digest": _suppressed(make, bob, digest, "retrigger_delay", 2, START + timedelta(days=3)),
    }


def _rows(body):
    return re.findall(r'<tr id="(group|msg)-(\d+)"', body)


def test_the_engine_folds_in_one_group_by(app, story):
    rows = db.session.execute(suppression_groups().order_by("contact_id", "trigger_id")).all()
    folded = {(r.contact_id, r.trigger_id, r.reason_code): (r.times, r.first_at, r.last_at, r.last_id)
              for r in rows}
    ann, digest = story["ann"].id, story["digest"].id
    assert folded[(ann, digest, "global_delay")] == (
        12, START, START + timedelta(days=11), story["ann_digest"][-1].id)
    assert len(folded) == 3
    sql = str(suppression_groups().compile(db.engine))
    assert "GROUP BY" in sql and "count(*)" in sql.lower()


def test_grouped_is_the_default_and_says_how_often_since_when(login, story):
    client = login("viewer")
    body = client.get("/outbox/?tab=suppressed").get_data(as_text=True)
    assert len(_rows(body)) == 3 and all(kind == "group" for kind, _ in _rows(body))
    row = body[body.index(f'id="group-{story["ann_digest"][-1].id}"'):]
    row = row[:row.index("</tr>")]
    assert "12 times" in row and "since 20 Nov 2026" in row and "Global delay" in row
    assert "See all 12" in row
    once = body[body.index(f'id="group-{story["ann_renewal"][0].id}"'):]
    assert "Once" in once[:once.index("</tr>")] and "See all" not in once[:once.index("</tr>")]
    assert 'aria-current="true">Grouped by contact and trigger' in body
    # The tab still counts emails, not groups.
    assert re.search(r'data-tab="suppressed">\s*Suppressed <span class="count">15</span>', body)


def test_see_all_opens_the_individual_rows_of_one_group(login, story):
    client = login("viewer")
    body = client.get("/outbox/?tab=suppressed").get_data(as_text=True)
    link = re.search(r'<a class="see-all" href="([^"]+)">See all 12', body).group(1).replace("&amp;", "&")
    each = client.get(link).get_data(as_text=True)
    ids = {int(i) for kind, i in _rows(each) if kind == "msg"}
    assert ids == {m.id for m in story["ann_digest"]}
    assert "Contact: <strong>Ann Archer</strong>" in each  # the filter says whose rows these are
    assert 'aria-current="true">Every suppression' in each
    # Every suppression, unfiltered: all 15 rows one by one.
    all_rows = client.get("/outbox/?tab=suppressed&view=each").get_data(as_text=True)
    assert len([k for k, _ in _rows(all_rows) if k == "msg"]) == 15


@pytest.mark.parametrize("view", ["", "&view=each"])
def test_filter_by_reason_code(login, story, view):
    client = login("viewer")
    body = client.get(f"/outbox/?tab=suppressed&reason=retrigger_delay{view}").get_data(as_text=True)
    shown = {int(i) for _, i in _rows(body)}
    bob = {m.id for m in story["bob_digest"]}
    assert shown == ({max(bob)} if not view else bob)
    assert 'data-reason="retrigger_delay" aria-current="true"' in body  # the chip says it is on
    # The chips count emails per reason under the other filters.
    assert re.search(r'data-reason="global_delay">Global delay</a>\s*<span class="count">12</span>', body)
    frag = client.get(f"/outbox/?tab=suppressed&reason=unsubscribed{view}", headers=HX).get_data(as_text=True)
    assert "<html" not in frag and {int(i) for _, i in _rows(frag)} == {story["ann_renewal"][0].id}


@pytest.mark.parametrize("reason", ["bogus", "rejected", "<script>alert(1)</script>", "x" * 5000, "%00"])
def test_a_reason_it_cannot_filter_by_is_said_and_everything_shown(login, story, reason):
    client = login("viewer")
    resp = client.get("/outbox/", query_string={"tab": "suppressed", "reason": reason})
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    assert "is not a reason this tab can filter by, so every reason is shown" in body
    assert "<script>alert(1)" not in body and len(_rows(body)) == 3
    frag = client.get("/outbox/", query_string={"tab": "suppressed", "reason": reason}, headers=HX)
    assert frag.status_code == 200 and "every reason is shown" in frag.get_data(as_text=True)


def test_a_reason_on_a_tab_without_reasons_is_ignored_and_said(login, make):
    client = login("viewer")
    make.outbox_message(subject="Still waiting")
    body = client.get("/outbox/?tab=waiting&reason=global_delay").get_data(as_text=True)
    assert "Still waiting" in body and "This tab has no reasons to filter by" in body


def test_other_filters_apply_to_the_groups(login, story):
    client = login("viewer")
    by_trigger = client.get(f"/outbox/?tab=suppressed&trigger={story['renewal'].id}").get_data(as_text=True)
    assert {int(i) for _, i in _rows(by_trigger)} == {story["ann_renewal"][0].id}
    by_search = client.get("/outbox/?tab=suppressed&q=globex").get_data(as_text=True)
    assert {int(i) for _, i in _rows(by_search)} == {story["bob_digest"][-1].id}
    by_contact = client.get(f"/outbox/?tab=suppressed&contact={story['ann'].id}").get_data(as_text=True)
    assert len(_rows(by_contact)) == 2
    for junk in ("contact=abc", "contact=-1", "contact=99999999999999", "view=sideways", "page=999", "page=x"):
        resp = client.get(f"/outbox/?tab=suppressed&{junk}")
        assert resp.status_code == 200 and len(_rows(resp.get_data(as_text=True))) == 3, junk
    empty = client.get("/outbox/?tab=suppressed&q=nobody-here").get_data(as_text=True)
    assert "No emails match these filters" in empty


def test_grouped_queries_do_not_grow_with_rows(login, make, app, story):
    client = login("viewer")
    statements = []

    def before(conn, cursor, statement, *args):
        statements.append(statement)

    def count():
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", before)
        try:
            assert client.get("/outbox/?tab=suppressed").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", before)
        return len(statements)

    count()  # warm: the first request of a session loads more
    few = count()
    for i in range(10):
        _suppressed(make, make.contact(), story["digest"], "global_delay", 3)
    count()  # the factories' commits expired the signed-in staff row: reloaded once
    assert count() == few
    assert any("GROUP BY" in s and "outbox_messages.contact_id" in s for s in statements)


@pytest.mark.parametrize("role", ["viewer", "approver", "manager", "admin"])
def test_every_role_reads_the_suppressed_tab(login, story, role):
    client = login(role)
    for query in ("tab=suppressed", "tab=suppressed&view=each", "tab=suppressed&reason=global_delay"):
        assert client.get(f"/outbox/?{query}").status_code == 200


def test_signed_out_goes_to_login(client, story):
    resp = client.get("/outbox/?tab=suppressed&reason=global_delay")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
