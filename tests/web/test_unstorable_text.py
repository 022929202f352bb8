"""Text the databases cannot hold (issue 14 item 7): a NUL or a lone UTF-16 surrogate.

PostgreSQL refuses both (psycopg raises deep inside a view: a 500), SQLite stores a
surrogate inside JSON ("\\ud800") and hands it back on every read, and a page holding
one cannot be encoded as UTF-8 (a 500 for everyone, on every page that shows it).
So every API payload and form is refused at the door with a 422 saying where, and
pages still render rows that hold one already.
"""
import json

import pytest

from extensions import db
from models import Account, Contact, Event
from tests.web import robustness_data as rd
from tests.web.robustness_access import (  # noqa: F401  (data, fast_password_hashes: fixtures)
    REDIRECTS, allowed, data, fast_password_hashes, rules_for)

SURROGATE = "\ud800"


def _is_sqlite():
    return db.engine.dialect.name == "sqlite"


def test_pages_render_rows_that_already_hold_a_lone_surrogate(app, data, login):
    """Stored on SQLite before the door was closed: keys and values of attributes and
    event properties. Every page and htmx fragment renders (the surrogate shown as U+FFFD)."""
    if not _is_sqlite():
        pytest.skip("PostgreSQL cannot store a lone surrogate at all")
    bad = {f"key{SURROGATE}": f"value{SURROGATE}", "plain": f"x{SURROGATE}y"}
    for model in (Account, Contact):
        for row in db.session.query(model):
            row.attributes = {**(row.attributes or {}), **bad}
    for event in db.session.query(Event):
        event.properties = {**(event.properties or {}), **bad}
    db.session.commit()
    client = login("admin")
    problems = []
    for rule in rules_for(app, "GET"):
        if rule.endpoint.startswith("tracking."):
            continue
        for url in rd.rule_urls(rule, data):
            for headers in ({}, {"HX-Request": "true"}):
                status, error = rd.send(client, "GET", url, headers=headers)
                if status >= 500:
                    problems.append(f"GET {url} {headers}: {status} {error}")
    assert problems == [], "\n".join(problems)
    page = client.get(rd.link("accounts.index")).get_data(as_text=True)
    assert SURROGATE not in page


def _raw(payload) -> dict:
    """The body as an attacker sends it: JSON escapes (json.dumps writes "\\ud800")."""
    return {"data": json.dumps(payload), "content_type": "application/json"}


def test_a_lone_surrogate_in_a_1000_item_batch_is_a_422_naming_the_item(api, make):
    make.account(external_id="acc")
    contacts = [{"external_id": f"c{i}", "account_external_id": "acc", "email": f"c{i}@example.com"}
                for i in range(1000)]
    contacts[617]["attributes"] = {f"plan{SURROGATE}": "pro"}        # a key, nested
    contacts[900]["attributes"] = {"tags": ["ok", f"bad\udfff"]}      # a value in a nested list
    contacts[901]["first_name"] = "Nul\x00l"
    resp = api.post("/api/v1/contacts", **_raw({"contacts": contacts}))
    assert resp.status_code == 422, resp.get_data(as_text=True)[:300]
    errors = resp.get_json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [
        (617, "attributes.plan\ufffd"), (900, "attributes.tags[1]"), (901, "first_name")]
    assert "lone UTF-16 surrogate" in errors[0]["message"] and "NUL" in errors[2]["message"]
    assert db.session.query(Contact).count() == 0


@pytest.mark.parametrize("path, payload, where", [
    ("/api/v1/accounts", {"accounts": [{"external_id": "a1", "name": f"Acme{SURROGATE}"}]}, "accounts[0].name"),
    ("/api/v1/events", {"events": [{"contact_external_id": "c1", "name": "login",
                                    "properties": {"deep": {f"k\x00": 1}}}]}, "events[0].properties.deep.k\ufffd"),
    ("/api/v1/preview", {"rule": {"all": [{"field": "contact.role", "op": "eq", "value": "\udbff"}]}},
     "rule.all[0].value"),
    ("/api/v1/triggers", {"name": f"T{SURROGATE}"}, "name"),
    ("/api/v1/lists", {"name": "L\x00"}, "name"),
])
def test_nul_or_a_lone_surrogate_anywhere_in_an_api_payload_is_a_422(api, path, payload, where):
    resp = api.post(path, **_raw(payload))
    assert resp.status_code == 422, resp.get_data(as_text=True)[:300]
    [error] = resp.get_json()["errors"]
    assert error["path"] == where and error["message"].startswith("text may not contain")
    assert "Set-Cookie" not in resp.headers


def test_valid_unicode_and_escaped_backslashes_pass(api, make):
    make.account(external_id="acc")
    # "\\ud800" in JSON is a backslash and the letters "ud800", and a surrogate pair is one emoji.
    body = ('{"contacts": [{"external_id": "c1", "account_external_id": "acc", "email": "c1@example.com", '
            '"first_name": "\\\\ud800 \\ud83d\\ude00 \\u00e9"}]}')
    resp = api.post("/api/v1/contacts", data=body, content_type="application/json")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert db.session.query(Contact).one().first_name == "\\ud800 \U0001F600 é"


def test_nul_in_a_form_field_is_a_422_with_a_clear_message(login):
    from models import Persona

    client = login("admin")
    resp = client.post("/personas/new", data={"name": "Ad\x00mins", "description": "", "rule_json": "{}"})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert "Text may not contain NUL" in page and "name" in page and "Nothing was saved" in page
    assert db.session.query(Persona).count() == 0
    assert client.get("/contacts?q=a%00b").status_code == 400  # in the address: a bad request
