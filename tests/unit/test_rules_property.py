"""Property test: the compiled SQL selects exactly the contacts the plain-Python
reference evaluator (tests/unit/rules_reference.py) selects -- for random rules
over random small datasets with NULLs, missing and oddly typed attributes and
events on window boundaries and on and around UTC midnights. Event conditions are
checked on both compile paths (the daily rollup for whole days + raw edge events,
and raw events only), at a `now` in the first and second half of a UTC day and on
a midnight itself (the rollup path splits edge days differently then). Runs on
whichever DATABASE_URL the suite uses."""
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert

from engine.contacts.event_days import rebuild
from engine.rules import RuleError, explain, matching_contacts_select, parse_rule, preview
from engine.rules import sql as rules_sql
from extensions import db
from models import Account, Contact, ContactList, Event, ListMember
from tests.unit.rules_reference import Reference

NOW = datetime(2026, 1, 10, 12, 0, 0)
NOWS = [NOW, datetime(2026, 1, 10, 3, 30, 0), datetime(2026, 1, 10, 0, 0, 0),
        datetime(2026, 1, 10, 23, 59, 59, 999999)]
D, S, US = timedelta(days=1), timedelta(seconds=1), timedelta(microseconds=1)
# Offsets from NOW, mostly on the window edges the rules below use (1, 3, 7, 14, 30 days).
OFFSETS = [7 * D, 7 * D + S, 14 * D, 30 * D, 30 * D + S, D, -D, 0 * D, S, 3 * D, 7 * D - S,
           14 * D + S, 6 * D, 400 * D, US, -US, 3 * D + US, 7 * D - US, 14 * D + US]
# Days before NOW's UTC day whose midnight (+ a small shift) an event lands on: the
# edge days of 3-, 7- and 14-day windows and the days inside them.
MIDNIGHT_DAYS = [0, 1, 2, 3, 4, 6, 7, 8, 13, 14, 15, 28]
MIDNIGHT_SHIFTS = [timedelta(0), -US, US, -S, timedelta(hours=1), -timedelta(hours=1)]
# The rule oracle's times: relative offsets, or midnights around now's day.
times = st.sampled_from(OFFSETS).map(lambda off: NOW - off)
maybe_times = st.none() | times


def event_times(now):
    midnight = datetime.combine(now.date(), datetime.min.time())
    return (st.sampled_from(OFFSETS).map(lambda off: now - off)
            | st.builds(lambda k, shift: midnight - k * D + shift,
                        st.sampled_from(MIDNIGHT_DAYS), st.sampled_from(MIDNIGHT_SHIFTS)))


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
    now = draw(st.sampled_from(NOWS))
    if contacts:
        events = [{
            "id": i + 1, "contact_id": draw(st.integers(1, len(contacts))),
            "name": draw(st.sampled_from(EVENT_NAMES[:2])), "occurred_at": draw(event_times(now)),
            "properties": {}, "received_at": NOW,
        } for i in range(draw(st.integers(0, 16)))]
    members = []
    if contacts:
        members = [{"list_id": list_id, "contact_id": contact_id} for list_id, contact_id in draw(
            st.sets(st.tuples(st.sampled_from(LIST_IDS[:2]), st.integers(1, len(contacts))),
                    max_size=10))]
    return accounts, contacts, events, now, members


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
              st.sampled_from([0, 25, 50, 100, 33.3]), st.sampled_from([1, 3, 4, 7]))
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
    rebuild(db.session.connection())  # a Core insert: roll the events up like a bulk load
    db.session.commit()


class compile_path:
    """Compile event conditions from the rollup (True) or raw events only (False)."""

    def __init__(self, rollups):
        self.rollups = rollups

    def __enter__(self):
        self.saved, rules_sql.EVENT_ROLLUPS = rules_sql.EVENT_ROLLUPS, self.rollups

    def __exit__(self, *exc):
        rules_sql.EVENT_ROLLUPS = self.saved


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=datasets(), rule=rules(), more=st.lists(leaf, min_size=1, max_size=6))
def test_compiled_sql_matches_reference(app, data, rule, more):
    accounts, contacts, events, now, members = data
    load(accounts, contacts, events, members)
    reference = Reference(accounts, contacts, events, now, list_members=members)
    for rollups in (True, False):
        with compile_path(rollups):
            check_against_reference(reference, contacts, rule, more, now, rollups)


def check_against_reference(reference, contacts, rule, more, now, rollups):
    # Extra single conditions per dataset: cheap, and they hit boundaries more often.
    for extra in more:
        got = {r.contact_id for r in db.session.execute(matching_contacts_select(extra, now))}
        assert got == reference.matching_ids(extra), (extra, now, rollups)

    expected = reference.matching_ids(rule)
    got = {row.contact_id for row in db.session.execute(matching_contacts_select(rule, now))}
    assert got == expected, (rule, now, rollups)

    result = preview(rule, now, limit=100)
    assert result["count"] == len(expected)
    assert {s["contact_id"] for s in result["sample"]} == expected
    by_id = {c["id"]: c["account_id"] for c in contacts}
    assert result["accounts"] == len({by_id[i] for i in expected})
    for contact in contacts[:4]:
        assert explain(rule, contact["id"], now)["matches"] == (contact["id"] in expected), rule


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=datasets(), conditions=st.lists(event_leaf, min_size=4, max_size=10))
def test_event_conditions_agree_on_both_compile_paths(app, data, conditions):
    """Event conditions alone, many per dataset: the rollup path and the raw path
    each select exactly the reference's contacts."""
    accounts, contacts, events, now, _members = data
    load(accounts, contacts, events)
    reference = Reference(accounts, contacts, events, now)
    for condition in conditions:
        expected = reference.matching_ids(condition)
        for rollups in (True, False):
            with compile_path(rollups):
                got = {r.contact_id for r in db.session.execute(
                    matching_contacts_select(condition, now))}
            assert got == expected, (condition, now, rollups)


def test_cached_preview_stays_exact_at_a_later_now(app):
    """A preview statement built at one now (rollup edge split chosen from it) is
    reused at later nows in the other half of the day: the counts stay exact."""
    from tests import factories as f

    contact = f.contact()
    first = NOWS[1]  # 03:30: boundary days count with the window after them
    stamps = [first - k * timedelta(hours=5) for k in range(60)]
    for at in stamps:
        f.event(contact, "login", occurred_at=at)
    for later in (first, first + timedelta(hours=10), first + timedelta(days=2, hours=20)):
        for days in (3, 7):
            in_window = sum(1 for at in stamps if later - days * D < at <= later)
            for value, expect in ((in_window, True), (in_window + 1, False)):
                rule = {"event": "login", "op": "count_gte", "value": value, "within_days": days}
                assert (preview(rule, later, 20)["count"] == 1) is expect, (later, days, value)


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
