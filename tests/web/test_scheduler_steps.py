"""Settings → Scheduler, the settings card and the home page: each tick step in words,
with how long it took and when, never the stored dicts."""
from datetime import timedelta

from engine.tick import TIMING_KEY, run_tick
from extensions import db
from models import TickRun
from models.base import utcnow


def _run(make, **extra):
    trigger = make.trigger(name="Welcome <b>aboard</b>")
    now = utcnow().replace(microsecond=0)
    summary = {
        "personas_refresh_step": {"enqueued": 2, "already_queued": 1},
        "generate_step": {str(trigger.id): {"candidates": 1, "created": 1, "suppressed": 0,
                                            "settled_id": 100007, "rendered": 1, "render_failed": 0}},
        "render_sweep_step": {"unrendered": 0},
        "expire_stuck_step": {"uncertain": 0},
        "send_sweep_step": {"due": 3, "enqueued": 1},
        "report_fold_step": {"folded": 12},
        TIMING_KEY: {"generate_step": {"started_at": now.isoformat(), "seconds": 0.0421},
                     "report_fold_step": {"started_at": now.isoformat(), "seconds": 1.5}},
        **extra,
    }
    db.session.add(TickRun(as_of=now, started_at=now, finished_at=now + timedelta(seconds=2), summary=summary))
    db.session.commit()
    return trigger


def test_scheduler_page_shows_each_step_in_words(login, make):
    client = login("viewer")
    _run(make)
    page = client.get("/settings/scheduler").get_data(as_text=True)
    assert "Last tick, step by step" in page
    assert "“Welcome &lt;b&gt;aboard&lt;/b&gt;”: 1 candidate, 1 email created, 1 rendered" in page
    assert "Asked for 2 persona refreshes" in page and "1 refresh still queued from before" in page
    assert "3 emails due, 1 send job queued" in page
    assert "12 delivery events added to the reports" in page
    assert "No send stuck" in page and "Nothing left to render" in page
    assert "42 ms" in page and "1.5 s" in page  # how long each step took
    # No dict, no engine bookkeeping
    assert "{" not in page.split("<main", 1)[-1].split("</main>")[0].replace("{{", "")
    assert "settled" not in page and "100007" not in page and "_timings" not in page
    assert "<b>aboard" not in page


def test_a_failed_generation_is_shown_as_an_error(login, make):
    client = login("viewer")
    trigger = make.trigger(name="Broken")
    now = utcnow()
    db.session.add(TickRun(as_of=now, started_at=now, finished_at=now, summary={
        "generate_step": {str(trigger.id): {"error": "RuleError: <script>x</script>"}}}))
    db.session.commit()
    page = client.get("/settings/scheduler").get_data(as_text=True)
    assert "“Broken” failed: RuleError: &lt;script&gt;x&lt;/script&gt;" in page
    assert "1 error" in page and "<script>x" not in page


def test_a_real_tick_records_how_long_each_step_took(app, login):
    summary = run_tick(utcnow())
    assert TIMING_KEY not in summary  # the returned summary is the steps' results only
    run = db.session.query(TickRun).one()
    assert set(run.summary[TIMING_KEY]) == set(summary)
    assert all(t["seconds"] >= 0 for t in run.summary[TIMING_KEY].values())
    page = login("viewer").get("/settings/scheduler").get_data(as_text=True)
    assert "No trigger was due" in page and "No email due to send" in page


def test_home_page_and_settings_card_show_the_last_tick_in_words(login, make):
    client = login("viewer")
    _run(make)
    home = client.get("/").get_data(as_text=True)
    assert "Generate emails: “Welcome &lt;b&gt;aboard&lt;/b&gt;”: 1 candidate, 1 email created" in home
    assert "Reports: 12 delivery events added to the reports" in home
    assert "Stuck sends" not in home  # idle steps are left out of the one-liner
    assert "{&#39;" not in home and "candidates&#39;" not in home
    card = client.get("/settings/").get_data(as_text=True)
    assert "Send sweep: 3 emails due, 1 send job queued" in card and "settled" not in card


def test_ticks_recorded_before_timings_still_read(login):
    client = login("viewer")
    now = utcnow()
    db.session.add(TickRun(as_of=now, started_at=now, finished_at=now,
                           summary={"send_sweep_step": {"due": 0, "enqueued": 0}, "odd_step": {"x_y": 4}}))
    db.session.commit()
    page = client.get("/settings/scheduler").get_data(as_text=True)
    assert "No email due to send" in page and "X y: 4" in page and "Odd" in page
