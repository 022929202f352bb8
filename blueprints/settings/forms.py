from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import EmailField, PasswordField, RadioField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length

from blueprints.auth.forms import new_password_validators
from models.staff import ROLES

ROLE_CHOICES = [(r, r.capitalize()) for r in ROLES]


class ConfirmForm(FlaskForm):
    """No fields: only the CSRF token, for POST buttons (revoke, remove, clear)."""


class ApiKeyForm(FlaskForm):
    name = StringField("Key name", validators=[DataRequired(message="Give the key a name."),
                                                 Length(max=128, message="A key name has at most 128 characters.")],
                       description="Where it is used, e.g. “Product backend (production)”.")


class StaffForm(FlaskForm):
    email = EmailField("Email", validators=[
        DataRequired(message="Enter the email they will sign in with."),
        Email(check_deliverability=False, message="Enter a valid email address, like name@company.com."),
        Length(max=320, message="An email address has at most 320 characters.")])
    name = StringField("Name", validators=[Length(max=128, message="A name has at most 128 characters.")])
    role = SelectField("Role", choices=ROLE_CHOICES, default="viewer")
    password = PasswordField("Initial password",
                             validators=new_password_validators("Choose an initial password for them."))


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)


class UploadForm(FlaskForm):
    kind = RadioField("The file holds", choices=[("contacts", "Contacts"), ("accounts", "Accounts")],
                      default="contacts", validators=[DataRequired(message="Choose what the file holds.")])
    file = FileField("CSV file", validators=[FileRequired(message="Choose a CSV file to upload.")])
