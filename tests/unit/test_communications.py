"""engine/reports/communications.py: which account log row an email belongs to."""
from datetime import date, datetime
from types import SimpleNamespace

from engine.reports.communications import CommunicationLog


def test_communication_log_knows_each_day_once():
    comms = CommunicationLog()
    trigger = SimpleNamespace(id=7, timezone="America/New_York", log_subject="Hi")
    # 03:59 UTC on March 5th is still March 4th in New York.
    row = comms.row_to_write(1, trigger, datetime(2026, 3, 5, 3, 59))
    assert row == (1, date(2026, 3, 4), "Hi")
    comms.remember(trigger, row)
    assert comms.row_to_write(1, trigger, datetime(2026, 3, 5, 4, 30)) is None
    assert comms.row_to_write(1, trigger, datetime(2026, 3, 5, 5, 0)) == (1, date(2026, 3, 5), "Hi")
    assert comms.row_to_write(2, trigger, datetime(2026, 3, 5, 3, 0)) == (2, date(2026, 3, 4), "Hi")
