from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, ValidationError

from engine.clock import is_timezone

# Staff.email and LoginThrottle.email hold 320 characters; a longer "email" is bad input (400).
EMAIL_MAX = 320
PASSWORD_MAX = 256


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(check_deliverability=False),
                                            Length(max=EMAIL_MAX)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=PASSWORD_MAX)])
    remember = BooleanField("Keep me signed in")


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[
        DataRequired(message="Enter your current password."), Length(max=PASSWORD_MAX)])
    new_password = PasswordField("New password", validators=[
        DataRequired(message="Choose a new password."),
        Length(min=8, max=PASSWORD_MAX, message="Use 8 to 256 characters.")])
    confirm = PasswordField("Repeat the new password", validators=[
        DataRequired(message="Repeat the new password."),
        EqualTo("new_password", message="The two new passwords differ.")])


class TimeZoneForm(FlaskForm):
    """The zone a staff member's pages show times in; empty follows the browser's."""
    timezone = StringField("Show times in")

    def validate_timezone(self, field):
        field.data = (field.data or "").strip()
        if field.data and not is_timezone(field.data):
            raise ValidationError("Choose a time zone from the list, such as Europe/Berlin or "
                                  "America/New_York; leave it empty to follow your browser.")


class ConfirmForm(FlaskForm):
    """No fields: only the CSRF token, for POST buttons."""
