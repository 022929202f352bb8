from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, ValidationError

from engine.clock import is_timezone

# Staff.email and LoginThrottle.email hold 320 characters; a longer "email" is bad input (400).
EMAIL_MAX = 320
PASSWORD_MIN = 8
PASSWORD_MAX = 256
# The one password rule, for every form that sets a password (account, reset, Settings -> Staff)
# and `flask nudge create-staff`.
PASSWORD_LENGTH_MESSAGE = f"A password needs {PASSWORD_MIN} to {PASSWORD_MAX} characters."


def new_password_validators(required_message="Choose a new password."):
    return [DataRequired(message=required_message),
            Length(min=PASSWORD_MIN, max=PASSWORD_MAX, message=PASSWORD_LENGTH_MESSAGE)]


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(message="Enter the email you sign in with."),
                                            Email(check_deliverability=False, message="Enter a valid email address, like name@company.com."),
                                            Length(max=EMAIL_MAX, message="An email address has at most 320 characters.")])
    password = PasswordField("Password", validators=[DataRequired(message="Enter your password."),
                                                     Length(max=PASSWORD_MAX, message=PASSWORD_LENGTH_MESSAGE)])
    remember = BooleanField("Keep me signed in")


class NewPasswordForm(FlaskForm):
    """A new password, typed twice: the reset page."""
    new_password = PasswordField("New password", validators=new_password_validators())
    confirm = PasswordField("Repeat the new password", validators=[
        DataRequired(message="Type the new password a second time."),
        EqualTo("new_password", message="The two new passwords are not the same. Type the same password twice.")])


class PasswordChangeForm(NewPasswordForm):
    """Your own password: the current one, and the new one twice."""
    current_password = PasswordField("Current password", validators=[
        DataRequired(message="Enter your current password."), Length(max=PASSWORD_MAX)])


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
