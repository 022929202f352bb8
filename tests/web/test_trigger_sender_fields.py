"""Issue 14 items 12 and 14: the trigger's From name and its open/click tracking
switches, as API fields (added to the public contract, old bodies still work) and
wizard fields, validated by the one shared validation."""
from extensions import db
from models import Trigger
from tests.web.test_triggers_ui import MESSAGE

BODY = {"name": "Weekly report", "from_email": "cs@example.com", "subject": "Hi",
        "html": "<p>Hello</p>"}


def test_api_takes_and_returns_from_name_and_tracking_switches(api):
    res = api.post("/api/v1/triggers", json=dict(BODY, from_name="Zoë at Acme", track_opens=False,
                                                 track_clicks=False))
    assert res.status_code == 201, res.get_json()
    data = res.get_json()
    assert (data["from_name"], data["track_opens"], data["track_clicks"]) == ("Zoë at Acme", False, False)
    assert api.get(f"/api/v1/triggers/{data['id']}").get_json() == data
    # PUT merges: a body without the new fields keeps them.
    put = api.put(f"/api/v1/triggers/{data['id']}", json={"subject": "Hello again"}).get_json()
    assert (put["from_name"], put["track_opens"], put["track_clicks"]) == ("Zoë at Acme", False, False)
    # A body written before these fields existed gets the defaults.
    old = api.post("/api/v1/triggers", json=BODY).get_json()
    assert (old["from_name"], old["track_opens"], old["track_clicks"]) == (None, True, True)


def test_api_refuses_bad_from_name_and_switches_with_422(api):
    bad = dict(BODY, from_name="Ada\r\nBcc: all@example.com", track_opens="no", track_clicks=1)
    res = api.post("/api/v1/triggers", json=bad)
    assert res.status_code == 422
    fields = {e["field"] for e in res.get_json()["errors"]}
    assert {"from_name", "track_opens", "track_clicks"} <= fields
    res = api.post("/api/v1/triggers", json=dict(BODY, from_name="x" * 129))
    assert res.status_code == 422 and res.get_json()["errors"][0]["field"] == "from_name"
    assert Trigger.query.count() == 0


def test_wizard_saves_from_name_and_tracking_and_the_review_shows_the_sender(login, make):
    client = login("manager")
    form = client.get("/triggers/new").data.decode()
    assert 'name="from_name"' in form and 'name="track_opens"' in form and 'name="track_clicks"' in form
    for name in ("track_opens", "track_clicks"):  # on by default
        assert f'<input checked id="{name}" name="{name}" type="checkbox" value="y">' in form
    res = client.post("/triggers/new", data=dict(MESSAGE, from_name="Ada at Acme", track_opens="y",
                                                 action="next"))
    assert res.status_code == 302
    trigger = db.session.scalars(db.select(Trigger).order_by(Trigger.id.desc())).first()
    assert (trigger.from_name, trigger.track_opens, trigger.track_clicks) == ("Ada at Acme", True, False)
    make.contact(role="admin")
    trigger.rule = {"user_types": ["product_user"], "all": []}
    db.session.commit()
    review = client.get(f"/triggers/{trigger.id}/edit/review").data.decode()
    assert "Ada at Acme &lt;cs@example.com&gt;" in review
    assert "&lt;!DOCTYPE html&gt;" in review  # the review frame shows the document that is sent


def test_wizard_refuses_a_from_name_with_a_line_break(login):
    client = login("manager")
    res = client.post("/triggers/new", data=dict(MESSAGE, from_name="Ada\r\nBcc: x@evil.example",
                                                 action="next"))
    assert res.status_code == 422 and b"single line" in res.data
    assert Trigger.query.count() == 0


def test_viewers_cannot_set_the_sender_fields(login):
    client = login("viewer")
    assert client.post("/triggers/new", data=dict(MESSAGE, from_name="Eve")).status_code == 403
    assert Trigger.query.count() == 0
