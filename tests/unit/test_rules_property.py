"""Property test: the compiled SQL selects exactly the contacts the plain-Python
reference evaluator (tests/unit/rules_reference.py) selects -- for random rules
over random small datasets with NULLs, missing and oddly typed attributes and
events on window boundaries. Runs on whichever DATABASE_URL the suite uses."""
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert

from engine.rules import RuleError, explain, matching_contacts_select, parse_rule, preview
from extensions import db
from models import Account, Contact, ContactList, Event, ListMember
from tests.unit.rules_reference import Reference

NOW = datetime(2026, 1, 10, 12, 0, 0)
D, S = timedelta(days=1), timedelta(seconds=1)
# Offsets from NOW, mostly on the window edges the rules below use (1, 3, 7, 14, 30 days).
OFFSETS = [7 * D, 7 * D + S, 14 * D, 30 * D, 30 * D + S, D, -D, 0 * D, S, 3 * D, 7 * D - S,
           14 * D + S, 6 * D, 400 * D]
times = st.sampled_from(OFFSETS).map(lambda off: NOW - off)
maybe_times = st.none() | times
TEXTS = ["admin", "Admin", "ADMIN", "user", "", "ädmin", "Ädmin", "ad%min", "ad_min", "a b",
         "owner"]
texts = st.sampled_from(TEXTS)
ATTR_KEYS = ["beta", "score", "since"]
ATTR_VALUES = [True, False, None, 0, 5, 5.5, -1, 100, "5", "", "yes", "Admin", "abc",
               "2026-01-03", "2026-01-03T10:00:00", "2026-01-09 12:00", "2025-12-31T23:59:59Z",
               "2026-01-10T12:00:00", "2026-1-3", "2026-01-03xyz", [1], {"a": 1}]
attributes = st.one_of(
    st.dictionaries(st.sampled_from(ATTR_KEYS), st.sampled_from(ATTR_VALUES), max_size=3),
    st.just({}),
)
EVENT_NAMES = ["login", "report_created", "never_sent"]
# Lists 1 and 2 get random members; list 3 exists and stays empty.
LIST_IDS = [1, 2, 3]
LISTS = [{"id": i, "name": f"List {i}"} for i in LIST_IDS]


@st.composite
def datasets(draw):
    n_acc = draw(st.integers(1, 4))
    accounts = [{
        "id": i + 1, "external_id": f"a{i}", "name": draw(texts) or "Acme",
        "arr": draw(st.sampled_from([None, 0, 1000, 50000, 50000.5, 90000])),
        "plan": draw(st.none() | texts), "status": draw(st.sampled_from(["active", "churned"])),
        "attributes": draw(attributes), "created_at": draw(times),
    } for i in range(n_acc)]
    contacts = [{
        "id": i + 1, "external_id": f"c{i}", "account_id": draw(st.integers(1, n_acc)),
        "email": f"u{i}@example.com", "first_name": draw(st.none() | texts),
        "last_name": None, "role": draw(st.none() | texts),
        "is_crm_contact": draw(st.booleans()), "is_product_user": draw(st.booleans()),
        "timezone": draw(st.none() | texts), "created_at": draw(times),
        "last_seen_at": draw(maybe_times), "unsubscribed_at": draw(maybe_times),
        "attributes": draw(attributes),
    } for i in range(draw(st.integers(0, 8)))]
    events = []
    if contacts:
        events = [{
            "id": i + 1, "contact_id": draw(st.integers(1, len(contacts))),
            "name": draw(st.sampled_from(EVENT_NAMES[:2])), "occurred_at": draw(times),
            "properties": {}, "received_at": NOW,
        } for i in range(draw(st.integers(0, 16)))]
    members = []
    if contacts:
        members = [{"list_id": list_id, "contact_id": contact_id} for list_id, contact_id in draw(
            st.sets(st.tuples(st.sampled_from(LIST_IDS[:2]), st.integers(1, len(contacts))),
                    max_size=10))]
    return accounts, contacts, events, members


TEXT_FIELDS = ["contact.role", "contact.first_name", "contact.timezone", "contact.email",
               "account.plan", "account.name", "account.status"]
TIME_FIELDS = ["contact.last_seen_at", "contact.created_at", "contact.unsubscribed_at",
               "account.created_at"]
ATTRS = [f"{e}.attributes.{k}" for e in ("contact", "account") for k in ATTR_KEYS]
NUMBERS = st.sampled_from([0, 5, 5.5, -1, 1000, 50000, 50000.5, 100])
ISO_VALUES = ["2026-01-03", "2026-01-03T10:00:00", "2026-01-09T12:00:00Z",
              "2026-01-10T14:00:00+02:00", "2025-12-31"]
DAYS = st.sampled_from([0, 1, 7, 14, 30])


def cond(field, op, value=None):
    c = {"field": field, "op": op}
    if value is not None:
        c["value"] = value
    return c


text_leaf = st.builds(cond, st.sampled_from(TEXT_FIELDS + ATTRS), st.sampled_from(["eq", "ne"]),
                      texts) | \
    st.builds(cond, st.sampled_from(TEXT_FIELDS + ATTRS), st.sampled_from(["in", "not_in"]),
              st.lists(texts, min_size=1, max_size=3)) | \
    st.builds(cond, st.sampled_from(TEXT_FIELDS + ATTRS), st.sampled_from(["contains", "starts_with"]),
              st.sampled_from(["ad", "AD", "min", "ä", "Ä", "%", "_", " ", "user", "5"])) | \
    st.builds(cond, st.sampled_from(TEXT_FIELDS + TIME_FIELDS + ATTRS),
              st.sampled_from(["is_set", "is_not_set"]))
number_leaf = st.builds(cond, st.sampled_from(["account.arr"] + ATTRS),
                        st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]), NUMBERS) | \
    st.builds(cond, st.sampled_from(["account.arr"] + ATTRS), st.just("between"),
              st.lists(NUMBERS, min_size=2, max_size=2).map(sorted))
bool_leaf = st.builds(cond, st.sampled_from(["contact.is_crm_contact", "contact.is_product_user"]
                                            + ATTRS), st.sampled_from(["is_true", "is_false"]))
time_leaf = st.builds(cond, st.sampled_from(TIME_FIELDS + ATTRS), st.sampled_from(["before", "after"]),
                      st.sampled_from(ISO_VALUES)) | \
    st.builds(cond, st.sampled_from(TIME_FIELDS + ATTRS),
              st.sampled_from(["older_than_days", "within_last_days"]), DAYS)


def event_cond(name, op, value, within):
    c = {"event": name, "op": op, "value": value}
    if within is not None:
        c["within_days"] = within
    return c


event_leaf = st.builds(event_cond, st.sampled_from(EVENT_NAMES),
                       st.sampled_from(["count_eq", "count_gt", "count_gte", "count_lt", "count_lte"]),
                       st.integers(0, 3), st.sampled_from([None, 1, 3, 7, 14])) | \
    st.builds(event_cond, st.sampled_from(EVENT_NAMES), st.just("dropped_by_pct"),
              st.sampled_from([0, 25, 50, 100, 33.3]), st.sampled_from([1, 3, 7]))
list_leaf = st.builds(lambda list_id, op: {"list": list_id, "op": op},
                      st.sampled_from(LIST_IDS), st.sampled_from(["member", "not_member"]))
leaf = text_leaf | number_leaf | bool_leaf | time_leaf | event_leaf | list_leaf
tree = st.recursive(leaf, lambda kids: st.one_of(
    st.lists(kids, max_size=3).map(lambda xs: {"all": xs}),
    st.lists(kids, max_size=3).map(lambda xs: {"any": xs}),
    kids.map(lambda x: {"not": x})), max_leaves=6)
user_types = st.none() | st.lists(
    st.sampled_from(["product_user", "crm_contact", "inactive", "churned_account"]),
    unique=True, max_size=4)


@st.composite
def rules(draw):
    rule = dict(draw(tree))
    types = draw(user_types)
    if types is not None:
        rule["user_types"] = types
    return rule


def load(accounts, contacts, events, members=()):
    for model in (ListMember, ContactList, Event, Contact, Account):
        db.session.execute(delete(model))
    for model, rows in ((Account, accounts), (Contact, contacts), (Event, events),
                        (ContactList, LISTS), (ListMember, list(members))):
        if rows:
            db.session.execute(insert(model), rows)
    db.session.commit()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=datasets(), rule=rules(), more=st.lists(leaf, min_size=1, max_size=6))
def test_compiled_sql_matches_reference(app, data, rule, more):
    accounts, contacts, events, members = data
    load(accounts, contacts, events, members)
    reference = Reference(accounts, contacts, events, NOW, list_members=members)
    # Extra single conditions per dataset: cheap, and they hit boundaries more often.
    for extra in more:
        got = {r.contact_id for r in db.session.execute(matching_contacts_select(extra, NOW))}
        assert got == reference.matching_ids(extra), extra

    expected = reference.matching_ids(rule)
    got = {row.contact_id for row in db.session.execute(matching_contacts_select(rule, NOW))}
    assert got == expected, rule

    result = preview(rule, NOW, limit=100)
    assert result["count"] == len(expected)
    assert {s["contact_id"] for s in result["sample"]} == expected
    by_id = {c["id"]: c["account_id"] for c in contacts}
    assert result["accounts"] == len({by_id[i] for i in expected})
    for contact in contacts[:4]:
        assert explain(rule, contact["id"], NOW)["matches"] == (contact["id"] in expected), rule


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(
        st.sampled_from(["all", "any", "not", "field", "op", "value", "event", "within_days",
                         "list", "user_types", "contact.role", "x"]), kids, max_size=4),
    max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(json_values)
def test_any_json_is_a_rule_or_a_rule_error(app, value):  # app: list ids are looked up
    try:
        parse_rule(value)
    except RuleError as exc:
        assert exc.errors and all(set(e) == {"path", "message"} for e in exc.errors)
