"""Issue 15 polish through the test client: the contact page's "check against a
trigger or persona" section and the trigger page's explainer -- read-only for every
role, login required, bad input refused quietly, hostile values escaped."""
import pytest

from extensions import db
from models.base import utcnow

RULE = {"all": [{"field": "contact.role", "op": "eq", "value": "admin"},
                {"field": "account.arr", "op": "gt", "value": 50000}]}


@pytest.fixture
def world(make):
    acc = make.account(name="<b>Acme</b>", arr=1000)
    c = make.contact(acc, role="<img src=x onerror=alert(1)>", email="h@x.test", external_id="ext-h",
                     unsubscribed_at=utcnow())
    trigger = make.trigger(name="<script>t</script>", rule=RULE)
    persona = make.persona(name="P <i>1</i>", rule={"field": "account.plan", "op": "eq", "value": "pro"})
    db.session.commit()
    return c, trigger, persona


@pytest.mark.parametrize("role", ["viewer", "approver", "manager", "admin"])
def test_contact_section_for_every_role(login, world, role):
    contact, trigger, persona = world
    client = login(role)
    page = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "Check against a trigger or persona" in page
    part = client.get(f"/contacts/{contact.id}?section=explain&check=trigger:{trigger.id}",
                      headers={"HX-Request": "true"})
    html = part.get_data(as_text=True)
    assert part.status_code == 200 and 'data-explain-verdict="no-match"' in html
    assert "Role: &lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    assert "&lt;script&gt;t&lt;/script&gt;" in html and "<script>t" not in html
    assert "ARR: 1,000" in html and "every run holds this contact back: unsubscribed" in html
    html = client.get(f"/contacts/{contact.id}?section=explain&check=persona:{persona.id}",
                      headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Not a member of the persona" in html and "P &lt;i&gt;1&lt;/i&gt;" in html


@pytest.mark.parametrize("bad", ["trigger:abc", "trigger:99999999999", "persona:0", "x:1",
                                 "trigger:", "<script>", "persona:-1"])
def test_contact_section_ignores_bad_choices(login, world, bad):
    contact, _, _ = world
    client = login("viewer")
    res = client.get(f"/contacts/{contact.id}", query_string={"section": "explain", "check": bad},
                     headers={"HX-Request": "true"})
    assert res.status_code == 200
    html = res.get_data(as_text=True)
    assert "data-explain-verdict" not in html and "<script>" not in html


def test_explainers_need_login(client, world):
    contact, trigger, _ = world
    assert client.get(f"/rules/triggers/{trigger.id}/explain?contact=h@x.test").status_code == 302
    assert client.get(f"/contacts/{contact.id}?section=explain&check=trigger:{trigger.id}").status_code == 302


def test_trigger_explain(login, world):
    contact, trigger, _ = world
    c = login("viewer")
    html = c.get(f"/rules/triggers/{trigger.id}/explain?contact=H@X.test",
                 headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-explain-verdict="no-match"' in html and "ARR: 1,000" in html
    assert c.get(f"/rules/triggers/{trigger.id}/explain?contact=ext-h").status_code == 200  # full page
    html = c.get(f"/rules/triggers/{trigger.id}/explain?contact=<b>nobody",
                 headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "No contact has the email or external id “&lt;b&gt;nobody”" in html
    assert c.get("/rules/triggers/2147483647/explain?contact=h@x.test").status_code == 404
    assert c.get(f"/rules/triggers/{trigger.id}/explain?contact=" + "a" * 5000).status_code == 200
    page = c.get(f"/reports/triggers/{trigger.id}").get_data(as_text=True)
    assert 'id="trigger-explain"' in page
