from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, Email, EqualTo, Length

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


class ConfirmForm(FlaskForm):
    """No fields: only the CSRF token, for POST buttons."""
