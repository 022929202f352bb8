"""The domain: no Flask request, no RQ, no HTTP; every function takes `now`.

One transaction rule (DESIGN.md): orchestrating functions -- a tick step, a
job, a view, a CLI command -- own the transaction: they commit (or roll
back); the engine functions they call do not. An engine function leaves its
writes in the caller's session, so one orchestrator can combine several calls
into one unit, and a failure rolls all of it back. What must happen only once
the rows are committed (ringing the Doorbell, so a woken worker finds them)
is the orchestrator's too: the engine says what to ring
(e.g. engine.outbox.ring_approved_sends) and the orchestrator rings after its
commit.

The orchestrators that live in the engine say so in their docstring:
run_tick and its steps (engine/tick.py TICK_STEPS; e.g. generate_step commits
each trigger's run, report_fold_step each fold batch) and run_import (the
import job's body, committing each chunk with its progress).

The one exception is the send path (engine/outbox/send_states.py,
engine/sending/): claiming and the marks around each SMTP transaction commit
at exact points (claim; mark `sending`; SMTP; mark `sent`), because what is
committed before the SMTP conversation decides what a crash leaves in doubt.
"""
