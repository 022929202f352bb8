from urllib.parse import urlsplit

from flask import abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from blueprints.auth.forms import (ConfirmForm, LoginForm, NewPasswordForm, PasswordChangeForm,
                                   TimeZoneForm)
from engine.staff import login as staff_login
from engine.staff import reset as staff_reset
from engine.staff import sessions
from extensions import db, login_manager
from models.base import utcnow
from blueprints.auth import bp

login_manager.login_view = "auth.login"
login_manager.login_message_category = "info"

# Endpoints reachable without a login: everything else requires one.
PUBLIC_ENDPOINTS = {"auth.login", "auth.reset_password", "static"}
PUBLIC_BLUEPRINTS = {"tracking", "api", "webhooks"}  # api by key, webhooks by signature


@login_manager.user_loader
def load_staff(user_id):
    # Sessions and remember cookies carry "<id>:<session_version>" (Staff.get_id): a cookie
    # issued before the last revocation (logout, password or role change, sign out
    # everywhere) loads nobody.
    return sessions.load(user_id)


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
        email = staff_login.normalise_email(form.email.data)
        allowed = staff_login.begin_attempt(
            email, utcnow(), max_failures=current_app.config["LOGIN_MAX_FAILURES"],
            lockout_seconds=current_app.config["LOGIN_LOCKOUT_SECONDS"])
        db.session.commit()  # counted before the (slow) hash, and no row lock held during it
        if not allowed:
            minutes = max(1, current_app.config["LOGIN_LOCKOUT_SECONDS"] // 60)
            flash(f"Too many failed sign-in attempts. Try again in {minutes} minutes.", "error")
            status = 429
        else:
            staff = staff_login.verify_password(email, form.password.data)
            if staff is not None:
                staff_login.succeeded(email)
                db.session.commit()
                login_user(staff, remember=form.remember.data)
                return redirect(_safe_next(request.args.get("next")))
            flash("That email and password do not match.", "error")
            status = 401
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


def _end_this_session(message: str):
    logout_user()
    flash(message, "info")
    return redirect(url_for("auth.login"))


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    # Server-side: the session and remember cookies of this browser stop working even where
    # someone copied them. Other devices are signed out too (one version per staff member).
    sessions.revoke_sessions(current_user._get_current_object())
    db.session.commit()
    return _end_this_session("You are signed out, on this and every other device.")


def _account_page(form=None, zone_form=None, status=200):
    me = current_user._get_current_object()
    zone_form = zone_form or TimeZoneForm(formdata=None, timezone=me.timezone or "")
    return render_template("auth/account.html", form=form or PasswordChangeForm(), confirm=ConfirmForm(),
                           zone_form=zone_form), status


@bp.route("/account")
@login_required
def account():
    return _account_page()


@bp.route("/account/timezone", methods=["POST"])
@login_required
def set_timezone():
    me = current_user._get_current_object()
    form = TimeZoneForm()
    if not form.validate_on_submit():
        return _account_page(zone_form=form, status=422)  # nothing saved
    me.timezone = form.timezone.data or None
    db.session.commit()
    if me.timezone:
        flash(f"Times are now shown in {me.timezone}, on every device you use.", "success")
    else:
        flash("Times now follow the time zone of the browser you are using.", "success")
    return redirect(url_for("auth.account"))


@bp.route("/account/sign-out-everywhere", methods=["POST"])
@login_required
def sign_out_everywhere():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    sessions.revoke_sessions(current_user._get_current_object())
    db.session.commit()
    return _end_this_session("You are signed out on every device. Sign in again to continue here.")


@bp.route("/account/password", methods=["POST"])
@login_required
def change_password():
    me = current_user._get_current_object()
    form = PasswordChangeForm()
    if form.validate_on_submit():
        # The current password is a guess like any other: it counts toward the lockout.
        allowed = staff_login.begin_attempt(
            me.email, utcnow(), max_failures=current_app.config["LOGIN_MAX_FAILURES"],
            lockout_seconds=current_app.config["LOGIN_LOCKOUT_SECONDS"])
        db.session.commit()
        if not allowed:
            form.current_password.errors.append("Too many wrong passwords. Try again in a few minutes.")
            return _account_page(form=form, status=429)
        if me.check_password(form.current_password.data):
            staff_login.succeeded(me.email)
            sessions.set_password(me, form.new_password.data)
            db.session.commit()
            # This browser continues under the new version (remembered again if it was).
            login_user(me, remember=current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
                       in request.cookies)
            flash("Your password is changed, and every other device is signed out.", "success")
            return redirect(url_for("auth.account"))
        form.current_password.errors.append("That is not your current password.")
    return _account_page(form=form, status=400)


def _no_store(response):
    # The link is a credential until used: keep the page out of shared caches and history.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token):
    """The page an admin-issued reset link opens (Settings -> Staff -> Reset link): a new
    password, typed twice. The link is refused, with the reason, once it has expired, once it
    was used (the password it was made for changed) and when it was not made by Nudge."""
    secret = current_app.config["SECRET_KEY"]
    try:
        member = staff_reset.check(token, utcnow(), secret_key=secret)
    except staff_reset.ResetRefused as refused:
        return _no_store(make_response(render_template("auth/reset.html", refused=refused, form=None),
                                       410 if refused.reason in (staff_reset.EXPIRED, staff_reset.USED) else 400))
    form = NewPasswordForm()
    if form.validate_on_submit():
        sessions.set_password(member, form.new_password.data)  # the link stops working; sessions end
        staff_login.succeeded(member.email)  # a lockout from forgotten guesses is over too
        db.session.commit()
        if current_user.is_authenticated and current_user.id == member.id:
            logout_user()
        flash("Your new password is set, and every device signed in as you was signed out. "
              "Sign in with the new password.", "success")
        return redirect(url_for("auth.login"))
    status = 400 if request.method == "POST" else 200
    return _no_store(make_response(render_template("auth/reset.html", refused=None, form=form, member=member),
                                   status))
