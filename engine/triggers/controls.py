"""Frequency controls (Natero semantics), evaluated in SQL over the candidate set.

For each candidate, in this order:
  1. unsubscribed                                   -> never
  2. never_retrigger and this trigger already emailed them
  3. this trigger emailed them within retrigger_delay_days
  4. ANY trigger emailed them within this trigger's global_delay_days
     (rows already in the outbox count, so messages generated earlier in the
     same tick by higher-priority triggers hold this one back)

"Emailed" means an outbox row in COUNTED_STATES (pending, approved, sending,
sent, uncertain): a message on its way counts as much as a delivered one,
while failed / suppressed / rejected / cancelled rows never reached anybody.
A row's time is when it was sent, else when it is scheduled to go out, else
when it was generated.

"Within N days" is counted in calendar days of the trigger's timezone: with a
7-day delay, an email on Monday allows the next one on the following Monday,
whatever the time of day (daily triggers run at the same wall-clock time, so
a 24-hour window would drift by seconds and skip a day).

Everything is SQL: one correlated lookup per candidate on the outbox's
(contact_id, state, created_at) index finds the email that holds it back, if
any (control_columns, with_history), and CASEs turn it into the state, the
reason code and the sentence staff read (state_and_reason). The day counts in
those sentences use the timezone's offset at `now` (a DST change inside the
window can shift an "N days ago" by one near midnight; the decision itself
uses exact window boundaries computed with zoneinfo).
"""
from datetime import datetime, time, timedelta
from types import SimpleNamespace

from sqlalchemy import Date, Integer, String, and_, case, cast, func, literal, or_, select

from engine.outbox import COUNTED_STATES
from engine.rules.suppression import contact_suppressions
from engine.clock import local_date, local_instant, zone
from models import OutboxMessage, Trigger

O = OutboxMessage.__table__.c
# The moment a row "emailed" its contact, for the delay windows.
EMAILED_AT = func.coalesce(O.sent_at, O.send_after, O.created_at)


def window_start(days: int, now: datetime, tz: str) -> datetime | None:
    """Start (naive UTC) of the last `days` calendar days in tz, today included.
    None when the control is off (0 days)."""
    if not days or days <= 0:
        return None
    first_day = local_date(now, tz) - timedelta(days=days - 1)
    return local_instant(first_day, time(0, 0), tz)


def uses_history(trigger) -> bool:
    return bool(trigger.never_retrigger or (trigger.retrigger_delay_days or 0) > 0
                or (trigger.global_delay_days or 0) > 0)


def control_columns(trigger, contact_id_col, now: datetime) -> list:
    """The labelled column held_by: id of the outbox row that holds the
    candidate back, or NULL. In order of precedence:
      * this trigger's latest counted email -- any time with never_retrigger,
        else inside the re-trigger window;
      * else (global delay) the latest counted email of any trigger inside
        the global window.
    One correlated lookup per candidate on the (contact_id, state, ...) index:
    the contact's counted emails that meet either rule, this trigger's first,
    then the latest. with_history() joins the row, state_and_reason() tells
    which rule it met."""
    tz = trigger.timezone or "UTC"
    mine = None
    if trigger.never_retrigger or (trigger.retrigger_delay_days or 0) > 0:
        mine = O.trigger_id == trigger.id
        if not trigger.never_retrigger:
            mine = and_(mine, EMAILED_AT >= window_start(trigger.retrigger_delay_days, now, tz))
    since = window_start(trigger.global_delay_days or 0, now, tz)
    recent = EMAILED_AT >= since if since is not None else None
    if mine is None and recent is None:
        return [literal(None, type_=Integer).label("held_by")]
    if mine is not None and recent is not None:
        meets, order = or_(mine, recent), [case((mine, 0), else_=1), EMAILED_AT.desc()]
    else:
        meets, order = (mine if recent is None else recent), [EMAILED_AT.desc()]
    return [select(O.id)
            .where(O.contact_id == contact_id_col, O.state.in_(COUNTED_STATES), meets)
            .order_by(*order).limit(1)
            .correlate_except(OutboxMessage).scalar_subquery().label("held_by")]


def with_history(checked):
    """(FROM clause, columns) over the checked candidates joined to the outbox
    row that holds each back (control_columns): contact_id, account_id,
    occurrence_key, email, unsubscribed_at, email_bounced_at, nth, held_id, held_at, held_state,
    held_trigger_id, held_trigger_name."""
    held = OutboxMessage.__table__.alias("held")
    held_trigger = Trigger.__table__.alias("held_trigger")
    frm = (checked.outerjoin(held, held.c.id == checked.c.held_by)
           .outerjoin(held_trigger, held_trigger.c.id == held.c.trigger_id))
    cols = SimpleNamespace(
        contact_id=checked.c.contact_id, account_id=checked.c.account_id,
        occurrence_key=checked.c.occurrence_key, email=checked.c.email,
        unsubscribed_at=checked.c.unsubscribed_at, email_bounced_at=checked.c.email_bounced_at,
        nth=checked.c.nth, held_id=held.c.id,
        held_at=func.coalesce(held.c.sent_at, held.c.send_after, held.c.created_at),
        held_state=held.c.state, held_trigger_id=held.c.trigger_id,
        held_trigger_name=held_trigger.c.name)
    return frm, cols


class _Days:
    """Local calendar days in SQL, for SQLite and PostgreSQL."""

    def __init__(self, dialect: str, now: datetime, tz: str):
        offset = now.replace(tzinfo=zone("UTC")).astimezone(zone(tz)).utcoffset()
        self.seconds = int(offset.total_seconds())
        self.offset = offset
        self.pg = dialect == "postgresql"
        self.today = local_date(now, tz)

    def day(self, col):
        """'YYYY-MM-DD' of col in the trigger's timezone."""
        if self.pg:
            return func.to_char(col + self.offset, "YYYY-MM-DD")
        return func.date(col, f"{self.seconds:+d} seconds")

    def ago(self, col):
        """'today' / '1 day ago' / 'N days ago'."""
        if self.pg:
            days = literal(self.today, Date) - cast(col + self.offset, Date)
        else:
            days = cast(func.julianday(self.today.isoformat())
                        - func.julianday(func.date(col, f"{self.seconds:+d} seconds")), Integer)
        return case((days <= 0, "today"), (days == 1, "1 day ago"),
                    else_=cast(days, String) + " days ago")


def state_and_reason(trigger, c, now: datetime, dialect: str, *, duplicate=None):
    """(state, reason_code, reason) SQL expressions over the candidate columns `c`
    (unsubscribed_at, email, held_*): the live state (pending approval, or
    approved for auto-send triggers) or "suppressed" with the control's code
    (models.outbox.REASON_LABELS) and the sentence staff read.
    `duplicate`: true for a contact's second candidate row in the same run
    (two events at once), held back when the trigger has any control."""
    tz = trigger.timezone or "UTC"
    days = _Days(dialect, now, tz)
    live = "pending_approval" if trigger.requires_approval else "approved"
    r, g = trigger.retrigger_delay_days or 0, trigger.global_delay_days or 0
    held = c.held_id.is_not(None)
    # The held row was found by this trigger's own rule when it is this
    # trigger's and meets that rule; otherwise by the global delay (which can
    # find an older email of this trigger too, outside the re-trigger window).
    own = and_(held, c.held_trigger_id == trigger.id)
    since = None if trigger.never_retrigger else window_start(r, now, tz)
    if since is not None:
        own = and_(own, c.held_at >= since)
    emailed = case((c.held_state == "sent", "sent "), else_="emailed ")
    # The contact-level suppressions have one definition, shared with the previews.
    contact_level = dict(contact_suppressions(c.unsubscribed_at, c.email, c.email_bounced_at))
    # (condition, code, sentence) in order of precedence; the first that holds wins.
    rules = [(contact_level["unsubscribed"], "unsubscribed", literal("unsubscribed"))]
    rules += [(cond, code, literal(code.replace("_", " "))) for code, cond in contact_level.items()
              if code not in ("unsubscribed", "no_email")]  # bounced
    if trigger.never_retrigger:
        rules.append((own, "never_retrigger", case(
            (c.held_state == "sent", "never re-trigger: already sent on " + days.day(c.held_at)),
            else_="never re-trigger: already emailed on " + days.day(c.held_at) + " ("
            + func.replace(c.held_state, "_", " ") + ")")))
    elif since is not None:
        rules.append((own, "retrigger_delay", "re-trigger delay: " + emailed + days.ago(c.held_at)
                      + f" ({r}-day delay)"))
    if window_start(g, now, tz) is not None:
        who = func.coalesce(c.held_trigger_name, "trigger #" + cast(c.held_trigger_id, String))
        rules.append((held, "global_delay", "global delay: emailed by “" + who + "” "
                      + days.ago(c.held_at) + f" ({g}-day delay)"))
    if duplicate is not None and uses_history(trigger):
        code, sentence = in_run_reason(trigger)
        rules.append((duplicate, code, literal(sentence)))
    no_email = contact_level["no_email"]
    rules.append((no_email, "no_email", literal("no email address")))
    reason_code = case(*[(cond, literal(code)) for cond, code, _ in rules],
                       else_=literal(None, type_=String))
    reason = case(*[(cond, sentence) for cond, _, sentence in rules],
                  else_=literal(None, type_=String))
    # The state only needs the conditions, not the sentences (cheaper than
    # reason IS NULL); a held row always holds the candidate back.
    conds = [*contact_level.values(), held]
    if duplicate is not None and uses_history(trigger):
        conds.append(duplicate)
    state = case((or_(*conds), "suppressed"), else_=live)
    return state, reason_code, reason


def in_run_reason(trigger) -> tuple[str, str]:
    """(code, sentence): why a contact's second candidate in one run (two events
    at once) is held back."""
    if trigger.never_retrigger:
        return "never_retrigger", "never re-trigger: already emailed by this trigger today"
    if (trigger.retrigger_delay_days or 0) > 0:
        return ("retrigger_delay",
                f"re-trigger delay: emailed today ({trigger.retrigger_delay_days}-day delay)")
    return ("global_delay",
            f"global delay: emailed by “{trigger.name}” today ({trigger.global_delay_days}-day delay)")
