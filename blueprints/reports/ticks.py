"""What a scheduler tick did, in words: the Scheduler page, the settings card and
the home page read TickRun.summary through here instead of printing its dicts.

engine/tick.py stores {step name: the step's summary dict} plus, under TIMING_KEY,
{step name: {"started_at": iso, "seconds": float}}; rows written before the
timings existed show no duration.
"""
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from engine.tick import TICK_STEPS, TIMING_KEY
from extensions import db
from models import Trigger

STEP_TITLES = {
    "personas_refresh_step": "Persona refresh",
    "generate_step": "Generate emails",
    "render_sweep_step": "Render",
    "expire_stuck_step": "Stuck sends",
    "send_sweep_step": "Send sweep",
    "bounce_imap_step": "Bounce mailbox",
    "report_fold_step": "Reports",
}
STEP_ORDER = tuple(step.__name__ for step in TICK_STEPS)
# Engine bookkeeping in a generation summary (high-water marks, run keys): not for staff.
INTERNAL_KEYS = {"occurrence_key", "through_id", "settled_id"}


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


@dataclass
class StepView:
    key: str
    title: str
    lines: list[str] = field(default_factory=list)
    did_something: bool = False
    error: str | None = None
    started_at: datetime | None = None
    seconds: float | None = None


@dataclass
class TickView:
    run: object
    steps: list[StepView]

    @property
    def busy(self) -> list[str]:
        """"Step: what it did" for the steps that did something (or failed)."""
        return [f"{s.title}: {'; '.join(line[:1].lower() + line[1:] for line in s.lines)}"
                for s in self.steps if s.did_something or s.error]

    @property
    def brief(self) -> str:
        """One line for a card: only the steps that did something."""
        return " · ".join(self.busy) if self.busy else "Nothing to do"

    @property
    def errors(self) -> int:
        return sum(1 for s in self.steps if s.error)


def _personas(r: dict, s: StepView, names) -> None:
    asked, queued = int(r.get("enqueued", 0)), int(r.get("already_queued", 0))
    if asked:
        s.lines.append(f"asked for {_n(asked, 'persona refresh', 'persona refreshes')}")
    if queued:
        s.lines.append(f"{_n(queued, 'refresh', 'refreshes')} still queued from before")
    s.did_something = bool(asked)
    if not s.lines:
        s.lines.append("no persona due for a refresh")


def _generate(r: dict, s: StepView, names) -> None:
    for trigger_id, counts in sorted(r.items(), key=lambda kv: (not str(kv[0]).isdigit(), int(kv[0]) if str(kv[0]).isdigit() else 0)):
        name = names.get(str(trigger_id), f"Trigger #{trigger_id}")
        if not isinstance(counts, dict):
            s.lines.append(f"“{name}”: {counts}")
            continue
        if counts.get("error"):
            s.error = f"“{name}” failed: {counts['error']}"
            s.lines.append(s.error)
            continue
        candidates, created = int(counts.get("candidates", 0)), int(counts.get("created", 0))
        held = int(counts.get("suppressed", 0))
        parts = [_n(candidates, "candidate"), f"{_n(created, 'email')} created"]
        if held:
            parts.append(f"{held:,} held back by frequency controls")
        if counts.get("rendered"):
            parts.append(f"{int(counts['rendered']):,} rendered")
        if counts.get("render_failed"):
            parts.append(f"{int(counts['render_failed']):,} failed to render")
        if counts.get("render_queued"):
            parts.append(f"{int(counts['render_queued']):,} left to "
                         f"{_n(int(counts.get('render_jobs', 0)), 'render job')}")
        extra = [f"{k.replace('_', ' ')} {v}" for k, v in counts.items()
                 if k not in INTERNAL_KEYS and k not in
                 {"candidates", "created", "suppressed", "rendered", "render_failed", "render_queued", "render_jobs"}]
        s.lines.append(f"“{name}”: " + ", ".join(parts + extra))
        s.did_something = s.did_something or bool(candidates or created)
    if not s.lines:
        s.lines.append("no trigger was due")


def _render(r: dict, s: StepView, names) -> None:
    waiting = int(r.get("unrendered", 0))
    if not waiting:
        s.lines.append("nothing left to render")
        return
    s.did_something = True
    s.lines.append(f"{_n(waiting, 'email')} waiting to be rendered: {int(r.get('rendered', 0)):,} rendered")
    if r.get("failed"):
        s.lines.append(f"{int(r['failed']):,} failed to render")
    if r.get("jobs"):
        s.lines.append(f"{_n(int(r['jobs']), 'render job')} queued for the rest")


def _stuck(r: dict, s: StepView, names) -> None:
    n = int(r.get("uncertain", 0))
    s.did_something = bool(n)
    s.lines.append(f"{_n(n, 'send')} stuck past the timeout marked uncertain" if n else "no send stuck")


def _send(r: dict, s: StepView, names) -> None:
    due, rung = int(r.get("due", 0)), int(r.get("enqueued", 0))
    if r.get("error"):
        s.error = f"could not queue the send jobs: {r['error']}"
    if not due and not s.error:
        s.lines.append("no email due to send")
        return
    s.did_something = bool(due)
    s.lines.append(f"{_n(due, 'email')} due, {_n(rung, 'send job')} queued")
    if s.error:
        s.lines.append(s.error)


def _bounces(r: dict, s: StepView, names) -> None:
    if r.get("error"):
        s.error = f"could not read the bounce mailbox: {r['error']}"
        s.lines.append(s.error)
        return
    if not r.get("polled"):
        s.lines.append("no bounce mailbox set (BOUNCE_IMAP_URL)")
        return
    read, recorded = int(r.get("read", 0)), int(r.get("recorded", 0))
    s.did_something = bool(read)
    s.lines.append(f"{_n(read, 'message')} read, {_n(recorded, 'bounce')} recorded"
                   if read else "no new messages in the bounce mailbox")
    if r.get("errors"):
        s.lines.append(f"{_n(int(r['errors']), 'message')} could not be recorded (kept for the next tick)")


def _fold(r: dict, s: StepView, names) -> None:
    n = int(r.get("folded", 0))
    s.did_something = bool(n)
    s.lines.append(f"{_n(n, 'delivery event')} added to the reports" if n else "no new delivery events")


def _generic(r, s: StepView, names) -> None:
    if isinstance(r, dict):
        s.lines.extend(f"{k.replace('_', ' ')}: {v}" for k, v in r.items())
        s.did_something = any(bool(v) for v in r.values())
        if r.get("error"):
            s.error = str(r["error"])
    elif r:
        s.lines.append(str(r))
        s.did_something = True
    if not s.lines:
        s.lines.append("nothing to do")


DESCRIBE = {"personas_refresh_step": _personas, "generate_step": _generate, "render_sweep_step": _render,
            "expire_stuck_step": _stuck, "send_sweep_step": _send, "bounce_imap_step": _bounces,
            "report_fold_step": _fold}


def _instant(value):
    try:
        return datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def _describe(run, names: dict) -> TickView:
    summary = dict(run.summary or {})
    timings = summary.pop(TIMING_KEY, None) or {}
    steps = []
    # In the tick's order: PostgreSQL's JSONB does not keep the keys' order.
    order = {name: n for n, name in enumerate(STEP_ORDER)}
    for key, result in sorted(summary.items(), key=lambda item: (order.get(item[0], len(order)), item[0])):
        s = StepView(key=key, title=STEP_TITLES.get(key, key.removesuffix("_step").replace("_", " ").capitalize()))
        try:
            DESCRIBE.get(key, _generic)(result if result is not None else {}, s, names)
        except (AttributeError, TypeError, ValueError):  # an unexpected shape: show it as it is
            s.lines, s.did_something = [str(result)], True
        if s.error and s.error not in s.lines:
            s.lines.append(s.error)
        s.lines = [line[:1].upper() + line[1:] for line in s.lines]
        s.error = s.error and s.error[:1].upper() + s.error[1:]
        t = timings.get(key) or {}
        s.started_at, s.seconds = _instant(t.get("started_at")), t.get("seconds")
        steps.append(s)
    return TickView(run=run, steps=steps)


def tick_views(runs) -> list[TickView]:
    """A TickView per run, with the trigger names of every generation in one query."""
    runs = [r for r in runs if r is not None]
    ids = {int(k) for r in runs for k in ((r.summary or {}).get("generate_step") or {}) if str(k).isdigit()}
    names = {}
    if ids:
        names = {str(i): n for i, n in db.session.execute(select(Trigger.id, Trigger.name).where(Trigger.id.in_(ids)))}
    return [_describe(r, names) for r in runs]


def tick_view(run) -> TickView | None:
    return tick_views([run])[0] if run is not None else None
