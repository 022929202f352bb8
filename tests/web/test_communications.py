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
    assert table.count("<tr>") == 3  # header + 2 days
    assert "03 Mar 2026" in table and "04 Mar 2026" in table
    assert "Your renewal, {{ contact.first_name }}" in table  # the subject as written, not per user
    assert "ada@globex.example" not in table and "bob@globex.example" not in table
    assert "Renewal reminder" in table


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
