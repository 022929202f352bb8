"""engine.render: sandboxed email templates, save-time validation, hardening, html_to_text."""
import time
import tracemalloc
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from engine.render import (
    RenderError, TemplateError, build_context, compile_email, compile_for_trigger, html_to_text,
    variable_catalog,
)


def ctx(**contact):
    c = {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com", "role": "admin",
         "attributes": {"beta": True, "plan tier": "gold"}}
    c.update(contact)
    account = {"name": "Acme & Co", "arr": Decimal("50000.00"), "plan": "pro", "external_id": "acc-1",
               "attributes": {"region": "emea"}}
    return build_context(c, account, unsubscribe_url="https://n.example/u/abc?x=1&y=2",
                         now=datetime(2026, 1, 5, 9, 0))


def render(html, subject="Hi", text=None, **contact):
    return compile_email(subject, html, text).render(ctx(**contact))


def errors_of(subject="Hi", html="<p>x</p>", text=None):
    with pytest.raises(TemplateError) as info:
        compile_email(subject, html, text)
    return info.value.errors


def test_variables_render_in_every_part():
    email = compile_email("{{ contact.first_name }} at {{ account.name }}",
                          "<p>{{ account.arr|money }} {{ account.plan }}</p>",
                          "Hi {{ contact.full_name }} ({{ contact.email }})").render(ctx())
    assert email.subject == "Ann at Acme & Co"  # subjects are not HTML-escaped
    assert email.html == "<p>$50,000 pro</p>"
    assert email.text == "Hi Ann Lee (ann@example.com)"


def test_custom_attributes_and_missing_values_render_empty():
    html = ('{{ contact.attributes.beta }}|{{ contact.attributes["plan tier"] }}|{{ account.attributes.region }}'
            '|{{ contact.attributes.missing }}|{{ contact.attributes.missing.deeper }}'
            '|{{ contact.attributes.missing|default("n/a") }}')
    assert render(html).html == "True|gold|emea|||n/a"


def test_variables_inside_html_attributes_are_attribute_escaped():
    email = render('<a href="{{ unsubscribe_url }}" title="{{ contact.first_name }}">Unsubscribe</a>',
                   first_name='"><script>x</script>')
    assert 'href="https://n.example/u/abc?x=1&amp;y=2"' in email.html
    assert 'title="&#34;&gt;&lt;script&gt;x&lt;/script&gt;"' in email.html
    assert "<script>" not in email.html


def test_html_is_escaped_but_text_and_subject_are_not():
    email = compile_email("Hello {{ contact.first_name }}", "<p>{{ contact.first_name }}</p>",
                          "{{ contact.first_name }}").render(ctx(first_name="<b>Bo & Co</b>"))
    assert email.html == "<p>&lt;b&gt;Bo &amp; Co&lt;/b&gt;</p>"
    assert email.text == "<b>Bo & Co</b>"
    assert email.subject == "Hello <b>Bo & Co</b>"


def test_empty_text_part_is_generated_from_html():
    compiled = compile_email("Hi", '<p>Hello {{ contact.first_name }},</p><p><a href="https://x.example/a">Open</a></p>', "")
    assert compiled.text_is_generated
    assert compiled.render(ctx()).text == "Hello Ann,\n\nOpen (https://x.example/a)\n"


def test_unknown_variables_are_reported_with_their_line():
    errors = errors_of(html="<p>Hi</p>\n<p>{{ contact.first_nme }}</p>\n\n{{ acount.name }}")
    assert errors == [
        {"field": "html", "line": 2, "message": "unknown variable 'contact.first_nme' (did you mean contact.first_name?)"},
        {"field": "html", "line": 4, "message": "unknown variable 'acount' (did you mean account?)"},
    ]


def test_unknown_variable_in_subject_and_text_are_attributed_to_their_field():
    errors = errors_of(subject="{{ contact.nickname }}", text="a\n{{ foo }}")
    assert [(e["field"], e["line"]) for e in errors] == [("subject", 1), ("text", 2)]


def test_loop_variables_macros_and_set_are_not_unknown():
    html = ("{% set greeting = 'Hi' %}{% macro b(x) %}<b>{{ x }}</b>{% endmacro %}"
            "{% for p in contact.attributes.projects %}{{ loop.index }}{{ p }}{% endfor %}{{ b(greeting) }}")
    assert render(html).html == "<b>Hi</b>"


def test_syntax_error_reports_the_line():
    errors = errors_of(html="<p>ok</p>\n<p>ok</p>\n{% if contact.role %}\n<p>never closed</p>")
    assert errors[0]["field"] == "html" and errors[0]["line"] == 3  # where the block opened
    assert "endif" in errors[0]["message"]
    errors = errors_of(html="line one\n{{ contact.first_name }\n")
    assert errors[0]["line"] == 2


def test_unknown_filter_is_a_save_time_error():
    assert "No filter named 'center'" in errors_of(html="{{ contact.email|center(10) }}")[0]["message"]


@pytest.mark.parametrize("src", [
    "{{ ''.__class__.__mro__ }}",
    "{{ contact.__class__ }}",
    "{{ contact['__class__'] }}",
    "{{ account.name.__len__() }}",
    "{{ range.__self__ }}",
    "{{ now.__class__.__init__.__globals__ }}",
])
def test_ssti_attribute_escapes_fail_at_save_time(src):
    assert "starting with '_' are blocked" in errors_of(html=src)[0]["message"]


@pytest.mark.parametrize("src", ["{{ config }}", "{{ self }}", "{{ cycler }}", "{{ lipsum() }}",
                                 "{{ request }}", "{{ namespace() }}", "{% include 'x.html' %}",
                                 "{% import 'm' as m %}"])
def test_no_globals_and_no_loader(src):
    assert errors_of(html=src)


def test_ssti_is_blocked_at_render_time_too():
    # A key taken from the data cannot be checked at save time: the sandbox refuses it when rendering.
    compiled = compile_email("Hi", "{{ account.name[contact.attributes.k] }}", None)
    assert compiled.render(ctx(attributes={"k": 0})).html == "A"
    with pytest.raises(RenderError, match="blocked: access to '__class__'") as info:
        compiled.render(ctx(attributes={"k": "__class__"}))
    assert info.value.blocked


def test_template_that_skipped_validation_is_still_sandboxed():
    from engine.render import HTML_ENV, PLAIN_ENV, CompiledEmail

    raw = CompiledEmail(PLAIN_ENV.from_string("Hi"), HTML_ENV.from_string("{{ ''.__class__.__mro__ }}"), None,
                        ("", "", ""))
    with pytest.raises(RenderError, match="blocked"):
        raw.render(ctx())


@pytest.mark.parametrize("src, expected", [
    ("{{ range(10**9)|list }}", "range"),
    ("{{ 10**10**10 }}", "power"),
    ("{{ 'a' * 10**8 }}", "repeated"),
    ("{{ [1] * 100000000 }}", "repeated"),
    ("{% set a = 'x' * 100000 %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}"
     "{% set a = a ~ a %}{% set a = a ~ a %}{{ a }}", "text is too large"),
    ("{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}"
     "{% endfor %}{% endfor %}", "too many loop iterations"),
    ("{{ '%0999999999d' % 1 }}", "'%' string formatting"),
    ("{{ contact.first_name.ljust(10**9) }}", "'ljust'"),
    ("{{ '{:>999999999}'.format(1) }}", "'format'"),
    ("{% macro f() %}{{ f() }}{{ f() }}{% endmacro %}{{ f() }}", "recursed"),
    ("{{ ('a' * 900000).translate({97: 'x' * 900000}) }}", "'translate'"),
    ("{{ ('a ' * 400000)|wordwrap(1, true, 'x' * 900000) }}", "No filter named 'wordwrap'"),
    ("{{ [1, 2]|tojson(999999999) }}", "No filter named 'tojson'"),
])
def test_resource_exhaustion_is_refused_at_save_time_before_it_is_built(src, expected):
    # The guards refuse before the big value exists: what validation allocates stays small
    # (a memory bound, unlike a wall-clock one, does not depend on how busy the machine is).
    tracemalloc.start()
    try:
        errors = errors_of(html=src)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert expected in errors[0]["message"]
    assert errors[0]["line"] == 1
    assert peak < 16 * 2**20, f"validation allocated {peak / 2**20:.0f} MiB"


NESTED = "([range(10000)|list] * 10000)"  # 10,000 references to one list: small, until str() or sum
BIG = "{% set b = 'x' * 1000000 %}"
HOSTILE = {  # each took seconds to minutes of CPU, or 0.1 to 2+ GB of memory, before the render budget
    "sum_of_lists": "{{ ([range(1500)|list] * 1500)|sum(start=[])|length }}",  # ~15 s
    "sum_of_lists_3000": "{{ ([range(3000)|list] * 3000)|sum(start=[])|length }}",  # minutes
    "bytes_zfill": "{{ 'x'.encode().zfill(2*10**9)|length }}",  # 2 GB
    "bytes_ljust": "{{ 'x'.encode().ljust(2*10**9)|length }}",
    "int_to_bytes": "{{ (1).to_bytes(10**9, 'big')|length }}",
    "join_before_check": "{{ (['x' * 100000] * 10000)|join|length }}",  # 326+ MB, then refused
    "join_nested": "{{ " + NESTED + "|join|length }}",
    "output_nested": "{{ " + NESTED + " }}",
    "string_nested": "{{ " + NESTED + "|string|length }}",
    "concat_nested": "{{ ('a' ~ " + NESTED + ")|length }}",
    "set_block_of_outputs": BIG + "{% set x %}{% for i in range(10000) %}{{ b }}{% endfor %}{% endset %}"
                            "{{ x|length }}",
    "set_block_of_literals": "{% set x %}{% for i in range(10000) %}" + "y" * 100000
                             + "{% endfor %}{% endset %}{{ x|length }}",
    "macro_doubling": "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% else %}" + "z" * 1000
                      + "{% endif %}{% endmacro %}{{ f(22)|length }}",
    "map_list_copies": "{{ " + NESTED + "|map('list')|list|length }}",
    "method_on_big_text_in_loop": BIG + "{% for i in range(10000) %}{{ b.count('y') }}{% endfor %}",
    "compare_big_texts_in_loop": BIG + "{% set c = 'x' * 999999 ~ 'y' %}{% for i in range(10000) %}"
                                 "{% for j in range(10) %}{% if b == c %}{% endif %}{% endfor %}{% endfor %}",
    "recursive_loop": "{% for x in [" + NESTED + "] * 10000 recursive %}{% if x is iterable %}"
                      "{{ loop(x) }}{% endif %}{% endfor %}",
    "strftime_format": "{{ now.strftime('%c' * 400000)|length }}",
    "quadratic_codec": "{% set t = '" + "".join(map(chr, range(0x4e00, 0x4e00 + 20000))) + "' %}"
                       "{{ (t * 10).encode('punycode')|length }}",  # O(length x distinct characters)
}


@pytest.mark.parametrize("src", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_templates_are_refused_at_save_within_a_second_and_50_mb(src):
    """The render budget (operations, bytes built, CPU time) is enforced by the sandbox's
    hooks, not by the template: saving refuses each of these fast, with a clear error."""
    start = time.thread_time()
    errors = errors_of(html=src)
    elapsed = time.thread_time() - start
    assert errors[0]["message"].startswith("blocked: ")
    assert errors[0]["field"] == "html"
    assert elapsed < 1.5, f"saving took {elapsed:.1f} s of CPU"
    tracemalloc.start()
    try:
        errors_of(html=src)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20, f"validation allocated {peak / 2**20:.0f} MiB"


def test_one_budget_covers_the_whole_email_and_every_render_gets_a_fresh_one():
    loop = "{% for i in range(300) %}{% for j in range(300) %}{% endfor %}{% endfor %}"  # 90k steps
    compiled = compile_email("Hi" + loop, "<p>x</p>" + loop, None)  # 180k: fits in one budget
    for _ in range(3):  # a fresh budget per render, not one used up across recipients
        assert compiled.render(ctx()).subject == "Hi"
    errors = errors_of(subject="Hi" + loop, html=loop, text=loop + loop)  # 360k together: too much
    assert errors[-1]["message"] == "blocked: the template runs too many loop iterations or calls"


def test_data_driven_cpu_blowup_fails_that_render_only_and_fast():
    compiled = compile_email("Hi", "{{ ([contact.attributes.row] * contact.attributes.n)|sum(start=[])|length }}",
                             None)
    assert compiled.render(ctx(attributes={"row": [1, 2], "n": 3})).html == "6"
    start = time.thread_time()
    with pytest.raises(RenderError, match="blocked: a text or list built by adding is too large") as info:
        compiled.render(ctx(attributes={"row": list(range(1500)), "n": 1500}))
    assert time.thread_time() - start < 1.0
    assert (info.value.field, info.value.blocked) == ("html", True)
    assert compiled.render(ctx(attributes={"row": [1], "n": 1})).html == "1"  # the next one is fine


def test_data_driven_blowup_fails_that_render_only():
    compiled = compile_email("Hi", "{{ contact.attributes.word * contact.attributes.times }}", None)
    assert compiled.render(ctx(attributes={"word": "ab", "times": 3})).html == "ababab"
    with pytest.raises(RenderError, match="too large"):
        compiled.render(ctx(attributes={"word": "ab", "times": 10**9}))


def test_render_error_names_field_and_line():
    compiled = compile_email("Hi", "<p>x</p>\n<p>{{ 100 / contact.attributes.zero }}</p>", None)
    with pytest.raises(RenderError) as info:
        compiled.render(ctx(attributes={"zero": 0}))
    assert (info.value.field, info.value.line) == ("html", 2)
    assert str(info.value).startswith("html line 2: ZeroDivisionError")


def test_subject_with_line_break_after_rendering_is_a_render_error():
    compiled = compile_email("Hello {{ contact.first_name }}", "<p>x</p>", None)
    with pytest.raises(RenderError, match="line break"):
        compiled.render(ctx(first_name="Ann\r\nBcc: victim@example.com"))
    with pytest.raises(RenderError, match="line break"):
        compiled.render(ctx(first_name="Ann\nX"))


def test_subject_rendering_empty_is_a_render_error():
    with pytest.raises(RenderError, match="empty"):
        compile_email("{{ contact.first_name }}", "<p>x</p>", None).render(ctx(first_name=""))


def test_saved_subject_must_be_one_line_and_body_present():
    assert errors_of(subject="a\nb")[0]["message"] == "the subject must be a single line"
    assert errors_of(subject="  ")[0]["message"] == "the subject is empty"
    assert errors_of(html="", text="")[0]["message"] == "the email has no body"


def test_too_long_source_is_refused():
    assert "too long" in errors_of(html="x" * 300_000)[0]["message"]


def test_build_context_from_model_like_objects_is_plain_dicts():
    contact = SimpleNamespace(external_id="c1", email="a@x.io", first_name="A", last_name=None, role=None,
                              timezone=None, created_at=None, last_seen_at=None, is_product_user=True,
                              is_crm_contact=False, attributes=None)
    account = SimpleNamespace(external_id="a1", name="Acme", arr=Decimal("1200.50"), plan="pro",
                              status="active", created_at=None, attributes={"k": 1})
    context = build_context(contact, account, unsubscribe_url="u", extra={"event": {"name": "signup"}})
    assert type(context["contact"]) is dict and context["contact"]["attributes"] == {}
    assert context["contact"]["full_name"] == "A"
    assert context["account"]["arr"] == 1200.5
    assert context["event"] == {"name": "signup"}


def test_compile_for_trigger_uses_template_body_and_trigger_subject():
    template = SimpleNamespace(subject="Template subject", html="<p>T {{ contact.first_name }}</p>", text="")
    with_template = SimpleNamespace(template_id=1, template=template, subject="Own {{ account.name }}",
                                    html=None, text=None)
    email = compile_for_trigger(with_template).render(ctx())
    assert (email.subject, email.html) == ("Own Acme & Co", "<p>T Ann</p>")
    with_template.subject = ""
    assert compile_for_trigger(with_template).render(ctx()).subject == "Template subject"
    own = SimpleNamespace(template_id=None, template=None, subject="S", html="<p>own</p>", text="plain")
    email = compile_for_trigger(own).render(ctx())
    assert (email.html, email.text) == ("<p>own</p>", "plain")
    assert compile_for_trigger(own) is compile_for_trigger(own)  # compiled once, reused


def test_html_to_text_keeps_structure():
    html = """<html><head><title>T</title><style>p{color:red}</style></head><body>
      <h1>Welcome</h1><p>Hello   <b>Ann</b>,<br>good to see you.</p>
      <ul><li>One</li><li>Two <a href="https://x.example/2">link</a></li></ul>
      <ol><li>First</li><li>Second</li></ol>
      <p><a href="https://x.example/">https://x.example/</a> <a href="mailto:cs@x.example">Mail us</a>
      <img src="a.png" alt="Logo"></p><script>alert(1)</script><p>&copy; 2026 &amp; more</p></body></html>"""
    assert html_to_text(html) == (
        "Welcome\n\nHello Ann,\ngood to see you.\n\n- One\n- Two link (https://x.example/2)\n\n"
        "1. First\n2. Second\n\nhttps://x.example/ Mail us (cs@x.example) Logo\n\n© 2026 & more\n")
    assert html_to_text("") == ""


def test_variable_catalog_lists_builtins_and_discovered_attributes(app, make):
    from extensions import db

    acc = make.account(attributes={"region": "emea", "csm name": "Bo"})
    make.contact(account=acc, attributes={"beta": True, "nps": 9})
    exprs = [v["expr"] for v in variable_catalog(db.session)]
    for expected in ("contact.first_name", "account.name", "account.arr|money", "unsubscribe_url",
                     "contact.attributes.beta", "contact.attributes.nps", "account.attributes.region",
                     'account.attributes["csm name"]'):
        assert expected in exprs
    for v in variable_catalog(db.session):  # every catalog entry is itself a valid template
        compile_email("Hi", "{{ %s }}" % v["expr"], None)
