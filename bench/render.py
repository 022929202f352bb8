"""Email rendering throughput for one realistic ~8 KB HTML template.

    python -m bench.render [--recipients 10000]

Four ways to render subject + HTML + text for every recipient (plain dict
contexts from engine.render.build_context), in the same run:
  sandboxed   engine.render.compile_email once, CompiledEmail.render per recipient
              (ImmutableSandboxedEnvironment + Nudge's hardening)
  plain       jinja2.Environment, templates compiled once (no sandbox)
  stock       jinja2's ImmutableSandboxedEnvironment as is, compiled once
  from_string ImmutableSandboxedEnvironment.from_string per recipient (compile every time;
              timed on the first --from-string-recipients, its rate is what matters)
Target: sandboxed >= 0.5x plain.
"""
import argparse
import random
import time
from decimal import Decimal

from jinja2 import Environment
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.render import HTML_ENV, build_context, compile_email

SUBJECT = "{{ contact.first_name }}, your {{ account.name }} workspace this month"
CARD = """
        <tr>
          <td style="padding:18px 28px;border-bottom:1px solid #eceef5;font-family:Helvetica,Arial,sans-serif">
            <h2 style="margin:0 0 6px;font-size:17px;color:#1c2033">{title}</h2>
            <p style="margin:0 0 10px;font-size:14px;line-height:1.55;color:#4b5168">
              {body}
            </p>
            <a href="https://app.example.com/{path}?utm_source=nudge&amp;utm_medium=email&amp;account={{{{ account.external_id }}}}"
               style="display:inline-block;padding:9px 16px;border-radius:6px;background:#4f46e5;color:#ffffff;text-decoration:none;font-weight:600">{cta}</a>
          </td>
        </tr>"""
CARDS = "".join(CARD.format(title=t, body=b, path=p, cta=c) for t, b, p, c in [
    ("Your reports", "Hi {{ contact.first_name }}, your team at {{ account.name }} created reports this "
     "month. Reports shared with your colleagues keep everyone on the same page about the numbers that matter.",
     "reports", "Open reports"),
    ("Dashboards", "{% if contact.role == 'admin' %}As an admin you can pin dashboards for the whole "
     "workspace.{% else %}Ask your admin to pin the dashboards your team uses most.{% endif %} Pinned "
     "dashboards load first for everyone on the {{ account.plan|title }} plan.", "dashboards", "See dashboards"),
    ("Integrations", "Connect {{ account.name }} to the tools you already use: your CRM, your data warehouse "
     "and your support desk. Most teams finish the setup in under ten minutes.", "integrations", "Connect a tool"),
    ("Invite your team", "Workspaces with five or more active users get twice as much value in the first "
     "quarter. Invite colleagues from {{ account.name }} with one click.", "team/invite", "Invite people"),
    ("Training", "Join a live onboarding session this week. Sessions run every Tuesday and Thursday and "
     "cover reports, alerts and dashboards, with time for your questions at the end.", "training", "Book a seat"),
    ("Alerts", "Set an alert on any metric and {{ account.name }} hears about changes before customers do. "
     "Alerts can go to email, Slack or a webhook, and you can mute them outside working hours.", "alerts", "Create an alert"),
    ("Data exports", "Schedule a weekly export of your reports as CSV or Excel to {{ contact.email }} or to a "
     "shared folder. Exports keep the filters and the column order you chose.", "exports", "Schedule an export"),
    ("What's new", "This month: faster dashboards, dark mode, and a new funnel chart. {% if account.plan == "
     "'enterprise' %}Enterprise workspaces also get audit logs and SSO enforcement.{% endif %} Read the "
     "release notes for the details.", "changelog", "Read release notes"),
])
HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>{{ account.name }} update</title>
<style>body{margin:0;background:#f5f6fa}.wrap{max-width:620px;margin:0 auto}</style></head>
<body style="margin:0;padding:0;background:#f5f6fa">
  <table role="presentation" class="wrap" width="100%" cellpadding="0" cellspacing="0" style="max-width:620px;margin:0 auto;background:#ffffff">
    <tr><td style="padding:26px 28px;background:#151829;color:#ffffff;font-family:Helvetica,Arial,sans-serif">
      <strong style="font-size:18px">Acme Analytics</strong><br>
      <span style="font-size:13px;color:#b7bcd3">Monthly update for {{ account.name }} · {{ now|date("%B %Y") }}</span>
    </td></tr>
    <tr><td style="padding:24px 28px 8px;font-family:Helvetica,Arial,sans-serif;font-size:15px;color:#1c2033">
      <p style="margin:0 0 12px">Hi {{ contact.first_name|default("there") }},</p>
      <p style="margin:0 0 12px">Here is what happened in <strong>{{ account.name }}</strong> since your last
      visit on {{ contact.last_seen_at|date }}. Your {{ account.plan|title }} plan
      ({{ account.arr|money }} a year) includes everything below.</p>
      {% if contact.attributes.projects %}<ul style="margin:0 0 12px;padding-left:20px">
      {% for project in contact.attributes.projects %}<li>{{ project }}</li>{% endfor %}
      </ul>{% endif %}
    </td></tr>""" + CARDS + """
    <tr><td style="padding:22px 28px;font-family:Helvetica,Arial,sans-serif;font-size:12px;color:#9aa0b4;line-height:1.6">
      You receive this email because {{ contact.email }} is a member of the {{ account.name }} workspace.
      Questions? Reply to this email and your customer success manager will get back to you.<br>
      Acme Analytics · 1 Market Street · San Francisco, CA 94105<br>
      <a href="{{ unsubscribe_url }}" style="color:#9aa0b4">Unsubscribe</a> ·
      <a href="https://app.example.com/settings/notifications?email={{ contact.email|urlencode }}" style="color:#9aa0b4">Email preferences</a>
    </td></tr>
  </table>
</body></html>
"""
TEXT = """Hi {{ contact.first_name|default("there") }},

Here is what happened in {{ account.name }} since your last visit on {{ contact.last_seen_at|date }}.
Open your reports: https://app.example.com/reports?account={{ account.external_id }}

Unsubscribe: {{ unsubscribe_url }}
"""


def make_contexts(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    firsts = ["Ann", "Bo", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana", "Ines", "Jo"]
    contexts = []
    for i in range(n):
        account = {"external_id": f"acc-{i // 5}", "name": f"Company {i // 5} & Partners",
                   "arr": Decimal(rng.randrange(5, 500) * 1000), "plan": rng.choice(["starter", "pro", "enterprise"]),
                   "status": "active", "attributes": {"region": "emea"}}
        contact = {"external_id": f"con-{i}", "email": f"user{i}@example.com", "first_name": rng.choice(firsts),
                   "last_name": f"Tester{i}", "role": rng.choice(["admin", "user"]),
                   "last_seen_at": None, "attributes": {"projects": ["Q3 review", "Churn <watch>"][: i % 3]}}
        contexts.append(build_context(contact, account, unsubscribe_url=f"https://nudge.example.com/u/{i}"))
    return contexts


def plain_templates():
    html_env = Environment(autoescape=True)
    text_env = Environment(autoescape=False)
    for env in (html_env, text_env):  # the same custom filters, minus the sandbox
        env.filters.update({k: HTML_ENV.filters[k] for k in ("money", "date", "number")})
    return text_env.from_string(SUBJECT), html_env.from_string(HTML), text_env.from_string(TEXT)


def timed(modes: dict, contexts, chunks: int = 10) -> dict:
    """Seconds per mode over all contexts. The modes take turns chunk by chunk, so a
    burst of load on the machine slows all of them alike instead of one."""
    elapsed = dict.fromkeys(modes, 0.0)
    size = dict.fromkeys(modes, 0)
    step = max(1, len(contexts) // chunks)
    for i in range(0, len(contexts), step):
        part = contexts[i:i + step]
        for name, fn in modes.items():
            start = time.perf_counter()
            for ctx in part:
                size[name] += fn(ctx)
            elapsed[name] += time.perf_counter() - start
    return {name: (elapsed[name], size[name]) for name in modes}


def report(label: str, n: int, elapsed: float, size: int) -> float:
    rate = n / elapsed
    print(f"  {label:<44} {rate:>10,.0f} renders/s   ({elapsed:6.2f} s, {size / n / 1024:.1f} KB avg)")
    return rate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--from-string-recipients", type=int, default=500,
                        help="recompiling is ~100x slower, so it is timed on the first N recipients")
    args = parser.parse_args()
    contexts = make_contexts(args.recipients)
    print(f"Template: {len(HTML.encode()) / 1024:.1f} KB HTML + subject + text; {args.recipients:,} recipients")

    compiled = compile_email(SUBJECT, HTML, TEXT)
    subject_t, html_t, text_t = plain_templates()
    sandbox_env = ImmutableSandboxedEnvironment(autoescape=True)
    sandbox_env.filters.update({k: HTML_ENV.filters[k] for k in ("money", "date", "number")})

    def sandboxed(ctx):
        r = compiled.render(ctx)
        return len(r.subject) + len(r.html) + len(r.text)

    def plain(ctx):
        return len(subject_t.render(ctx)) + len(html_t.render(ctx)) + len(text_t.render(ctx))

    stock_t = [sandbox_env.from_string(src) for src in (SUBJECT, HTML, TEXT)]

    def stock(ctx):
        return sum(len(t.render(ctx)) for t in stock_t)

    def from_string(ctx):
        s = sandbox_env.from_string(SUBJECT).render(ctx)
        h = sandbox_env.from_string(HTML).render(ctx)
        t = sandbox_env.from_string(TEXT).render(ctx)
        return len(s) + len(h) + len(t)

    timed({"warm-up": sandboxed, "plain": plain, "stock": stock}, contexts[:300])
    n = len(contexts)
    results = timed({"sandboxed": sandboxed, "plain": plain, "stock": stock}, contexts)
    rates = {
        "sandboxed": report("sandboxed, compiled once (Nudge)", n, *results["sandboxed"]),
        "plain": report("unsandboxed, compiled once", n, *results["plain"]),
        "stock": report("stock Jinja sandbox, compiled once", n, *results["stock"]),
    }
    few = contexts[:args.from_string_recipients]
    rates["from_string"] = report(f"from_string per recipient (first {len(few):,})", len(few),
                                  *timed({"from_string": from_string}, few)["from_string"])
    print()
    print(f"  sandboxed / unsandboxed       = {rates['sandboxed'] / rates['plain']:.2f}x  (target >= 0.5x)")
    print(f"  stock sandbox / unsandboxed   = {rates['stock'] / rates['plain']:.2f}x")
    print(f"  sandboxed / from_string       = {rates['sandboxed'] / rates['from_string']:.0f}x")
    print(f"  unsandboxed / from_string     = {rates['plain'] / rates['from_string']:.0f}x")


if __name__ == "__main__":
    main()
