"""Shared by the robustness tests: who may reach what, the data set, fast logins."""
import pytest

from tests.web import robustness_data as rd

ROLES = ("admin", "manager", "approver", "viewer")
PUBLIC_ENDPOINTS = {"auth.login", "auth.reset_password", "static"}
PUBLIC_BLUEPRINTS = {"tracking", "webhooks"}  # webhooks prove themselves by signature
# Who may open or post to an endpoint; anything not listed is open to every signed-in role
# for GET and to editors (admin, manager) for POST.
ADMIN_ONLY = {"settings.api_keys", "settings.create_api_key", "settings.revoke_api_key", "settings.staff",
              "settings.add_staff", "settings.change_role", "settings.sign_out_staff", "settings.remove_staff", "settings.create_reset_link", "settings.inbox",
              "settings.inbox_message", "settings.clear_inbox"}
EDITOR_PAGES = {"triggers.new", "triggers.step", "triggers.delete", "triggers.deactivate", "personas.create", "personas.edit",
                "email_templates.new", "email_templates.edit", "email_templates.delete", "settings.imports",
                "settings.import_job", "settings.map_import", "settings.import_progress",
                "settings.import_errors_csv", "settings.deliverability"}
APPROVER_ACTIONS = {"outbox.act", "outbox.approve_all"}
# POST endpoints that change nothing (previews, the rule builder) or are the sign-in itself.
READ_ONLY_POSTS = {"auth.login", "auth.logout", "email_templates.preview", "rules.visual", "rules.validate",
                   "rules.preview", "rules.explain"}
# Where GET answers with a redirect by design, for a signed-in user.
REDIRECTS = {"auth.login"}


def allowed(endpoint: str, role: str, method: str = "GET") -> bool:
    if endpoint in ADMIN_ONLY:
        return role == "admin"
    if endpoint in APPROVER_ACTIONS:
        return role != "viewer"
    if endpoint in EDITOR_PAGES:
        return role in ("admin", "manager")
    if method == "POST" and endpoint not in READ_ONLY_POSTS:
        return role in ("admin", "manager")
    return True


def is_public(endpoint: str) -> bool:
    return endpoint in PUBLIC_ENDPOINTS or endpoint.split(".")[0] in PUBLIC_BLUEPRINTS


def rules_for(app, method):
    return [r for r in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
            if method in r.methods and not r.endpoint.startswith("api.")]




@pytest.fixture(autouse=True)
def fast_password_hashes(monkeypatch):
    # scrypt costs 0.5 s per login() here; one PBKDF2 round keeps these files fast.
    from werkzeug import security

    import models.staff

    monkeypatch.setattr(models.staff, "generate_password_hash",
                        lambda password: security.generate_password_hash(password, method="pbkdf2:sha256:1"))


@pytest.fixture
def data(app):
    return rd.build()


def signed_in_client(app, role):
    client = app.test_client()
    staff = rd.factories.staff(role=role)
    with client.session_transaction() as session:
        session["_user_id"], session["_fresh"] = staff.get_id(), True
    return client
