from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import EmailField, PasswordField, RadioField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length

from models.staff import ROLES

ROLE_CHOICES = [(r, r.capitalize()) for r in ROLES]


class ConfirmForm(FlaskForm):
    """No fields: only the CSRF token, for POST buttons (revoke, remove, clear)."""


class ApiKeyForm(FlaskForm):
    name = StringField("Key name", validators=[DataRequired(message="Give the key a name."), Length(max=128)],
                       description="Where it is used, e.g. “Product backend (production)”.")


class StaffForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(check_deliverability=False), Length(max=320)])
    name = StringField("Name", validators=[Length(max=128)])
    role = SelectField("Role", choices=ROLE_CHOICES, default="viewer")
    password = PasswordField("Initial password", validators=[
        DataRequired(), Length(min=8, max=256, message="Use at least 8 characters.")])


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)


class UploadForm(FlaskForm):
    kind = RadioField("The file holds", choices=[("contacts", "Contacts"), ("accounts", "Accounts")],
                      default="contacts", validators=[DataRequired()])
    file = FileField("CSV file", validators=[FileRequired(message="Choose a CSV file to upload.")])
