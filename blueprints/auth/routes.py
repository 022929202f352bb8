from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from blueprints.auth.forms import LoginForm
from extensions import db, login_manager
from models import LoginFailure, Staff
from models.base import utcnow
from blueprints.auth import bp

login_manager.login_view = "auth.login"
login_manager.login_message_category = "info"

# Endpoints reachable without a login: everything else requires one.
PUBLIC_ENDPOINTS = {"auth.login", "static"}
PUBLIC_BLUEPRINTS = {"tracking", "api"}  # api authenticates by key


@login_manager.user_loader
def load_staff(staff_id):
    return db.session.get(Staff, int(staff_id))


@bp.before_app_request
def require_login():
    endpoint = request.endpoint or ""
    if endpoint in PUBLIC_ENDPOINTS or endpoint.split(".")[0] in PUBLIC_BLUEPRINTS:
        return None
    if not request.endpoint:  # 404s render normally
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


def _recent_failures(email: str) -> int:
    window = utcnow() - timedelta(seconds=current_app.config["LOGIN_LOCKOUT_SECONDS"])
    return LoginFailure.query.filter(LoginFailure.email == email, LoginFailure.at > window).count()


def _safe_next(target: str | None, default: str | None = None) -> str:
    # Only same-site paths: never an open redirect through ?next=. Browsers read "\\" as "/"
    # and drop tabs/newlines ("/\\evil.com", "/\t/evil.com" are "//evil.com" to them).
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc \
            and "\\" not in target and not any(ord(c) < 32 for c in target):
        return target
    return default or url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        if _recent_failures(email) >= current_app.config["LOGIN_MAX_FAILURES"]:
            minutes = max(1, current_app.config["LOGIN_LOCKOUT_SECONDS"] // 60)
            flash(f"Too many failed sign-in attempts. Try again in {minutes} minutes.", "error")
            status = 429
        else:
            staff = Staff.query.filter_by(email=email).first()
            if staff and staff.check_password(form.password.data):
                LoginFailure.query.filter_by(email=email).delete()
                db.session.commit()
                login_user(staff, remember=form.remember.data)
                return redirect(_safe_next(request.args.get("next")))
            db.session.add(LoginFailure(email=email, remote_addr=request.remote_addr))
            db.session.commit()
            flash("That email and password do not match.", "error")
            status = 401
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
