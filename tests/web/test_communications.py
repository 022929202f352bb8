"""The account's Communications tab (one row per account/trigger/day) and a contact's emails."""
from datetime import datetime, time

from engine.reports.communications import CommunicationLog
from extensions import db
from models import DeliveryEvent, OutboxMessage, Trigger


def _trigger(name="Renewal reminder", subject="Your renewal, {{ contact.first_name }}"):
    t = Trigger(name=name, subject=subject, status="active", timezone="Europe/Berlin",
                generate_at=time(8), send_at=time(9))
    db.session.add(t)
    db.session.commit()
    return t


def test_several_users_one_day_are_one_row_without_user_details(login, make):
    client = login("viewer")
    account = make.account(name="Globex")
    ada = make.contact(account=account, email="ada@globex.example", first_name="Ada")
    bob = make.contact(account=account, email="bob@globex.example", first_name="Bob")
    trigger = _trigger()
    # Two users on 3 March (Berlin), in two separate batches, then one on 4 March.
    CommunicationLog().record_sent(account.id, trigger, datetime(2026, 3, 3, 9, 0))
    CommunicationLog().record_sent(account.id, trigger, datetime(2026, 3, 3, 15, 0))
    CommunicationLog().record_sent(account.id, trigger, datetime(2026, 3, 4, 9, 0))
    db.session.commit()
    res = client.get(f"/accounts/{account.id}?tab=communications")
    assert res.status_code == 200
    page = res.data.decode()
    table = page[page.index('id="communications-table"'):]
    assert table.count("<tr") == 3  # header + 2 days
    assert "03 Mar 2026" in table and "04 Mar 2026" in table
    # No email of those days is in the outbox any more: the subject as written, muted.
    assert "Your renewal, {{ contact.first_name }}" in table
    assert "ada@globex.example" not in table and "bob@globex.example" not in table
    assert "Renewal reminder" in table


def _sent(trigger, contact, at, subject, key):
    m = OutboxMessage(trigger_id=trigger.id, contact_id=contact.id, account_id=contact.account_id,
                      occurrence_key=key, state="sent", subject=subject, to_email=contact.email, sent_at=at)
    db.session.add(m)
    return m


def _logged_day(make):
    """Globex: Ada and Bob emailed by the renewal trigger on 3 March (Berlin), Cy on 4 March;
    Initech's Dee the same day (another account)."""
    account = make.account(name="Globex")
    ada = make.contact(account=account, email="ada@globex.example", first_name="Ada", last_name="Lovelace")
    bob = make.contact(account=account, email="bob@globex.example", first_name="<script>alert(1)</script>")
    cy = make.contact(account=account, email="cy@globex.example", first_name="Cy")
    dee = make.contact(email="dee@initech.example", first_name="Dee")
    trigger = _trigger()
    log = CommunicationLog()
    sends = [(ada, datetime(2026, 3, 3, 8, 0), "Your renewal, Ada"),
             (bob, datetime(2026, 3, 3, 15, 0), "Your renewal, <script>alert(1)</script>"),
             # 23:30 UTC on 3 March is 4 March in Berlin
             (cy, datetime(2026, 3, 3, 23, 30), "Your renewal, Cy"),
             (dee, datetime(2026, 3, 3, 9, 0), "Your renewal, Dee")]
    messages = []
    for n, (contact, at, subject) in enumerate(sends):
        messages.append(_sent(trigger, contact, at, subject, str(n)))
        log.record_sent(contact.account_id, trigger, at)
    db.session.commit()
    return account, trigger, messages


def test_log_rows_show_the_rendered_subject_and_how_many_emails(login, make):
    client = login("viewer")
    account, trigger, messages = _logged_day(make)
    page = client.get(f"/accounts/{account.id}?tab=communications").get_data(as_text=True)
    table = page[page.index('id="communications-table"'):page.index("</table>", page.index('id="communications-table"'))]
    assert "{{" not in table  # no template code
    assert "Your renewal, Ada" in table and "and 1 more that day" in table  # 3 March: Ada + Bob
    assert "Your renewal, Cy" in table  # 4 March (Berlin) on its own row
    assert "Dee" not in table  # another account's contact
    assert "<script>" not in table
    from models import Communication
    march3 = db.session.query(Communication).filter_by(account_id=account.id).order_by(Communication.day).first()
    assert f'href="/reports/communications/{march3.id}"' in table


def test_a_log_row_opens_that_days_emails_to_the_accounts_contacts(login, make):
    client = login("viewer")
    account, trigger, messages = _logged_day(make)
    from models import Communication
    march3 = db.session.query(Communication).filter_by(account_id=account.id).order_by(Communication.day).first()
    res = client.get(f"/reports/communications/{march3.id}")
    assert res.status_code == 200
    page = res.get_data(as_text=True)
    assert "2 emails sent to Globex’s contacts that day" in page
    assert "Your renewal, Ada" in page and "Ada Lovelace" in page
    assert "Your renewal, &lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "Cy" not in page.split("<main", 1)[-1] and "Dee" not in page  # another day, another account
    for m in messages[:2]:
        assert f'href="/outbox/{m.id}"' in page


def test_the_day_page_needs_a_login(client):
    res = client.get("/reports/communications/1")
    assert res.status_code in (302, 401) and "/login" in res.headers.get("Location", "/login")


def test_the_day_page_of_a_missing_row_is_404(login):
    assert login("viewer").get("/reports/communications/999").status_code == 404


def test_contact_email_history_shows_state_opens_and_clicks(login, make):
    client = login("viewer")
    contact = make.contact(email="cy@initech.example")
    trigger = _trigger(name="Onboarding day 3")
    sent = OutboxMessage(trigger_id=trigger.id, contact_id=contact.id, account_id=contact.account_id,
                         occurrence_key="1", state="sent", subject="Welcome aboard", to_email=contact.email,
                         sent_at=datetime(2026, 3, 1, 9))
    held = OutboxMessage(trigger_id=trigger.id, contact_id=contact.id, account_id=contact.account_id,
                         occurrence_key="2", state="suppressed", reason="global delay: emailed 1 day ago",
                         to_email=contact.email)
    db.session.add_all([sent, held])
    db.session.flush()
    for kind in ("delivered", "opened", "opened", "clicked"):
        db.session.add(DeliveryEvent(message_id=sent.id, trigger_id=trigger.id, contact_id=contact.id,
                                     kind=kind, at=datetime(2026, 3, 1, 10)))
    db.session.commit()
    page = client.get(f"/contacts/{contact.id}").data.decode()
    section = page[page.index('id="section-emails"'):]
    assert "Welcome aboard" in section and "Onboarding day 3" in section
    assert "global delay" in section
    assert ">2<" in section.replace(" ", "") or '<td class="num">2' in section
