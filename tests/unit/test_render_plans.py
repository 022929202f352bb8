"""Render batches must seek the partial index of unrendered rows, also right
after a big generation, when the planner's statistics still describe the table
before it (issue 17). On PostgreSQL the per-row UPDATE used to name only `id`,
so the planner picked ix_outbox_unrendered (small, partial) and scanned all of
it for every row: a 43,718-message run rendered at 217 msgs/s, quadratically."""
from datetime import datetime

from sqlalchemy import insert, text

from engine.outbox.send_states import fail_unrendered
from engine.render import messages
from extensions import db
from models import OutboxMessage

NOW = datetime(2026, 3, 2, 8, 0)


def _just_generated_run(make, rows=3000):
    """A trigger's run inserted after ANALYZE: the statistics say nothing is unrendered."""
    trigger, account = make.trigger(), make.account()
    contact = make.contact(account)
    old = make.trigger()
    db.session.execute(insert(OutboxMessage.__table__), [
        dict(trigger_id=old.id, contact_id=contact.id, account_id=account.id, subject="sent",
             occurrence_key=f"old{i}", to_email="a@example.com", state="sent", attempts=0,
             created_at=NOW, updated_at=NOW) for i in range(rows)])
    db.session.execute(text("ANALYZE"))
    db.session.execute(insert(OutboxMessage.__table__), [
        dict(trigger_id=trigger.id, contact_id=contact.id, account_id=account.id,
             occurrence_key=f"k{i}", to_email="a@example.com", state="pending_approval",
             attempts=0, created_at=NOW, updated_at=NOW) for i in range(rows)])
    ids = [r for r, in db.session.execute(text(
        "SELECT id FROM outbox_messages WHERE trigger_id = :t ORDER BY id"), {"t": trigger.id})]
    return trigger, ids


def _plan(stmt, params=None) -> str:
    """The plan of stmt: with its literal values, or bound to params as the
    driver sends them (an UPDATE's SET values can only be bound)."""
    compiled = stmt.compile(dialect=db.engine.dialect,
                            compile_kwargs={} if params else {"literal_binds": True})
    values = compiled.construct_params(params or {})
    args = tuple(values[k] for k in compiled.positiontup) if compiled.positional else values
    conn = db.session.connection()
    if db.engine.dialect.name == "postgresql":
        return "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}", args))
    return "\n".join(r[3] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", args))


def _seeks_unrendered_index_on_both_columns(plan: str) -> bool:
    if db.engine.dialect.name == "postgresql":
        return any("Index Cond: ((trigger_id = " in line for line in plan.splitlines()) \
            and "ix_outbox_unrendered" in plan
    return "ix_outbox_unrendered (trigger_id=? AND id" in plan


def test_a_batch_select_seeks_the_unrendered_index(app, make):
    trigger, ids = _just_generated_run(make)
    plan = _plan(messages.unrendered_batch(after=ids[1500], trigger_id=trigger.id))
    assert _seeks_unrendered_index_on_both_columns(plan), plan


def test_the_rendered_update_finds_its_row_by_trigger_and_id(app, make):
    trigger, ids = _just_generated_run(make)
    plan = _plan(messages._SET, dict(_trigger_id=trigger.id, _id=ids[2000], _subject="s",
                                     _html="h", _text="t"))
    if db.engine.dialect.name == "postgresql":
        assert _seeks_unrendered_index_on_both_columns(plan) or "pk_outbox" in plan, plan
    else:
        assert "PRIMARY KEY" in plan or _seeks_unrendered_index_on_both_columns(plan), plan


def test_a_batch_renders_and_fails_its_rows_in_one_pass(app, make):
    """Failures of a batch in one statement: those rows failed, the others rendered."""
    trigger, ids = _just_generated_run(make, rows=20)
    fail_unrendered([(trigger.id, ids[3], "template error: boom"),
                     (trigger.id, ids[5], "template error: bang")], NOW)
    done = messages.render_pending(NOW, trigger_id=trigger.id)
    assert (done["rendered"], done["failed"], done["after"]) == (18, 0, ids[-1])
    states = dict(db.session.execute(text(
        "SELECT id, state FROM outbox_messages WHERE trigger_id = :t"), {"t": trigger.id}).all())
    assert states[ids[3]] == states[ids[5]] == "failed"
    assert {states[i] for i in ids if i not in (ids[3], ids[5])} == {"pending_approval"}
    again = messages.render_pending(NOW, trigger_id=trigger.id, after=done["after"])
    assert (again["rendered"], again["failed"]) == (0, 0)
