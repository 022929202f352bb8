"""The Doorbell on RQ (workers/doorbell.py), on real (embedded) Redis: which jobs each
ring queues, and that a worker runs them. The job names are part of the contract:
jobs queued before an upgrade must still find their function after it."""
import inspect
from datetime import datetime, timedelta

import pytest
from rq.registry import ScheduledJobRegistry

from engine.ports import Doorbell
from extensions import db
from models import OutboxMessage, PersonaMember
from tests.doorbell import RecordingDoorbell
from workers.doorbell import RENDER_MARKER, RQDoorbell
from workers.queues import get_queue, get_redis

NOW = datetime(2026, 1, 5, 9, 0)
PROTOCOL = sorted(name for name in vars(Doorbell) if not name.startswith("_"))


def queued(queue_name):
    return [(job.func_name, job.args) for job in get_queue(queue_name).jobs]


def scheduled(queue_name):
    queue = get_queue(queue_name)
    return [(job.func_name, job.args)
            for job in map(queue.fetch_job, ScheduledJobRegistry(queue=queue).get_job_ids())]


@pytest.mark.parametrize("implementation", [RQDoorbell, RecordingDoorbell])
def test_each_doorbell_implements_the_protocol_as_written(implementation):
    for name in PROTOCOL:
        expected = inspect.signature(getattr(Doorbell, name))
        actual = inspect.signature(getattr(implementation, name))
        assert [(p.name, p.kind, p.default) for p in actual.parameters.values()] == \
            [(p.name, p.kind, p.default) for p in expected.parameters.values()], name


def test_send_queues_a_batch_job_per_claim_or_schedules_them(app):
    app.config["SEND_BATCH_SIZE"] = 2
    bell = RQDoorbell()
    assert bell.send(1, None, NOW) == 1
    assert bell.send(5, NOW, NOW, as_of=NOW) == 3  # due now: at once, on the caller's clock
    assert queued("emails") == [("workers.jobs.send_batch_job", ())] + \
        [("workers.jobs.send_batch_job", (NOW.isoformat(),))] * 3
    assert bell.send(2, NOW + timedelta(minutes=10), NOW) == 1
    assert scheduled("emails") == [("workers.jobs.send_batch_job", ())]


def test_send_top_up_counts_the_jobs_already_waiting(app):
    app.config["SEND_BATCH_SIZE"] = 2
    bell = RQDoorbell()
    bell.send(1, None, NOW)
    assert bell.send_top_up(5, NOW) == 2  # 3 batches, 1 job waiting
    assert bell.send_top_up(5, NOW) == 0
    assert queued("emails")[1:] == [("workers.jobs.send_batch_job", (NOW.isoformat(),))] * 2


def test_a_persona_refresh_is_queued_once_while_it_waits(app):
    bell = RQDoorbell()
    assert bell.refresh_persona(7, NOW) is True
    assert bell.refresh_persona(7, NOW) is False
    assert bell.refresh_persona(8) is True
    assert queued("default") == [("workers.jobs.refresh_persona_job", (7, None, NOW.isoformat())),
                                 ("workers.jobs.refresh_persona_job", (8, None, None))]


def test_refresh_for_contacts_render_run_and_import_jobs(app):
    bell = RQDoorbell()
    bell.refresh_personas_for_contacts((3, 4))
    assert not bell.render_run_pending(9)
    bell.render_run(9, 2)
    assert bell.render_run_pending(9)
    bell.run_import(11)
    assert queued("default") == [("workers.jobs.refresh_contacts_personas_job", ([3, 4],)),
                                 ("workers.jobs.render_outbox_job", (9, 0, 2)),
                                 ("workers.jobs.render_outbox_job", (9, 1, 2))]
    assert queued("imports") == [("workers.jobs.import_job", (11,))]
    get_redis().delete(RENDER_MARKER.format(9))  # expired, or lost with Redis
    assert not bell.render_run_pending(9)


def test_the_job_names_are_functions_in_workers_jobs():
    import workers.jobs

    for name in ("send_batch_job", "refresh_persona_job", "refresh_contacts_personas_job",
                 "render_outbox_job", "import_job"):
        assert callable(getattr(workers.jobs, name)), name


def test_a_worker_runs_what_the_doorbell_queued(app, make, run_jobs):
    admins = {"all": [{"field": "contact.role", "op": "eq", "value": "admin"}]}
    ann, bob = make.contact(role="admin"), make.contact(role="admin")
    persona = make.persona(rule=admins)
    trigger = make.trigger()
    message = make.outbox_message(trigger=trigger, contact=ann, subject=None, html=None, text=None)
    bell = RQDoorbell()
    bell.refresh_personas_for_contacts([ann.id])
    bell.render_run(trigger.id, 1)
    run_jobs()
    db.session.expire_all()
    assert set(db.session.scalars(db.select(PersonaMember.contact_id))) == {ann.id}
    assert db.session.get(OutboxMessage, message.id).subject == f"Hello {ann.first_name}"
    bell.refresh_persona(persona.id, NOW)
    run_jobs()
    db.session.expire_all()
    assert set(db.session.scalars(db.select(PersonaMember.contact_id))) == {ann.id, bob.id}
