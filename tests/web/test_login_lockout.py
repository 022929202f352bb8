"""Issue 14 item 3: the 5-failures lockout holds under 30 concurrent wrong passwords (the
count and the check are one statement in the database), and a login for an unknown email
verifies a password hash just like one for a known email."""
import threading
from datetime import timedelta

import pytest

from engine.staff import login as staff_login
from extensions import db
from models.base import utcnow

PASSWORD = "correct-horse-1"


def _post_login(app, email, password, results, barrier=None):
    client = app.test_client()  # each thread is its own browser, with its own app context
    if barrier is not None:
        barrier.wait()
    with app.app_context():
        res = client.post("/login", data={"email": email, "password": password})
        results.append(res.status_code)
        db.session.remove()


@pytest.fixture
def count_hash_checks(monkeypatch):
    """Counts the password verifications the login makes (a spy; the real check still runs)."""
    calls = []
    real = staff_login.check_password_hash

    def spy(pwhash, password):
        calls.append(pwhash)
        return real(pwhash, password)

    monkeypatch.setattr(staff_login, "check_password_hash", spy)
    return calls


def test_thirty_concurrent_wrong_passwords_evaluate_at_most_five(app, make, count_hash_checks):
    staff = make.staff(email="target@example.com", password=PASSWORD)
    results, barrier = [], threading.Barrier(30)
    threads = [threading.Thread(target=_post_login, args=(app, staff.email, f"guess-{n}", results, barrier))
               for n in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 30, results
    limit = app.config["LOGIN_MAX_FAILURES"]
    assert sorted(set(results)) <= [401, 429], results
    assert results.count(401) <= limit, f"{results.count(401)} of 30 passwords were tried"
    assert results.count(429) >= 30 - limit
    assert len(count_hash_checks) <= limit
    # Locked: even the right password is refused, and not evaluated.
    checks_before = len(count_hash_checks)
    after = []
    _post_login(app, staff.email, PASSWORD, after)
    assert after == [429]
    assert len(count_hash_checks) == checks_before


def test_thirty_concurrent_guesses_at_an_unknown_email_lock_it_too(app, count_hash_checks):
    results, barrier = [], threading.Barrier(30)
    threads = [threading.Thread(target=_post_login, args=(app, "nobody@example.com", f"guess-{n}", results, barrier))
               for n in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results.count(401) <= app.config["LOGIN_MAX_FAILURES"]
    assert results.count(429) >= 30 - app.config["LOGIN_MAX_FAILURES"]


def test_unknown_email_verifies_against_a_dummy_hash(app, make, count_hash_checks):
    known = make.staff(email="known@example.com", password=PASSWORD)
    client = app.test_client()
    with app.app_context():
        res = client.post("/login", data={"email": "unknown@example.com", "password": "guess-1234"})
    assert res.status_code == 401
    assert len(count_hash_checks) == 1, "no password hash was verified for an unknown email"
    dummy = count_hash_checks[0]
    # The dummy costs what a real password hash costs: the same method and parameters.
    assert dummy.split("$")[0] == staff_login.generate_password_hash("x").split("$")[0]
    with app.app_context():
        res = client.post("/login", data={"email": known.email, "password": "guess-1234"})
    assert res.status_code == 401
    assert len(count_hash_checks) == 2 and count_hash_checks[1] == known.password_hash
    # Both answer with the same page and message.
    assert b"do not match" in res.data


def test_right_password_resets_the_count(app, make):
    staff = make.staff(email="reset@example.com", password=PASSWORD)
    results = []
    for _ in range(app.config["LOGIN_MAX_FAILURES"] - 1):
        _post_login(app, staff.email, "wrong-pass", results)
    _post_login(app, staff.email, PASSWORD, results)
    for _ in range(app.config["LOGIN_MAX_FAILURES"] - 1):
        _post_login(app, staff.email, "wrong-pass", results)
    _post_login(app, staff.email, PASSWORD, results)
    assert results == [401] * 4 + [302] + [401] * 4 + [302]


def test_lockout_ends_after_the_lockout_period(app, make):
    staff = make.staff(email="later@example.com", password=PASSWORD)
    now = utcnow()
    for _ in range(5):
        assert staff_login.begin_attempt(staff.email, now, max_failures=5, lockout_seconds=300)
        db.session.commit()
    assert not staff_login.begin_attempt(staff.email, now + timedelta(seconds=299), max_failures=5,
                                         lockout_seconds=300)
    assert staff_login.begin_attempt(staff.email, now + timedelta(seconds=301), max_failures=5,
                                     lockout_seconds=300)
    db.session.commit()
    # A fresh window: one failure counted, four more allowed.
    for _ in range(4):
        assert staff_login.begin_attempt(staff.email, now + timedelta(seconds=302), max_failures=5,
                                         lockout_seconds=300)
    assert not staff_login.begin_attempt(staff.email, now + timedelta(seconds=303), max_failures=5,
                                         lockout_seconds=300)


def test_emails_are_counted_case_insensitively(app, make):
    staff = make.staff(email="mixed@example.com", password=PASSWORD)
    results = []
    for n in range(app.config["LOGIN_MAX_FAILURES"]):
        _post_login(app, "MIXED@example.com" if n % 2 else "Mixed@Example.COM", "wrong-pass", results)
    _post_login(app, staff.email, PASSWORD, results)
    assert results[-1] == 429


@pytest.mark.parametrize("data", [
    {"email": "a" * 320 + "@example.com", "password": "x"},
    {"email": "not-an-email", "password": "x"},
    {"email": "ann@example.com"},
    {"password": "x"},
    {"email": "ann@example.com", "password": "x" * 5000},
])
def test_bad_login_input_is_400_and_counts_nothing(app, data):
    client = app.test_client()
    with app.app_context():
        res = client.post("/login", data=data)
    assert res.status_code == 400
    assert staff_login.failures(data.get("email", ""), utcnow(), lockout_seconds=300) == 0
