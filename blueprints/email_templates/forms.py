from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError


def _single_line(_form, field):
    if field.data and ("\r" in field.data or "\n" in field.data):
        raise ValidationError(f"The {field.label.text.lower()} must be a single line: remove the line breaks.")


class EmailTemplateForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Give the template a name."),
                                           Length(max=128, message="A template name has at most 128 characters."),
                                           _single_line], filters=[lambda v: v.strip() if v else v])
    subject = StringField("Subject", validators=[DataRequired("Write a subject for the email."),
                                                 Length(max=998, message="A subject has at most 998 characters."),
                                                 _single_line])
    html = TextAreaField("HTML body")
    text = TextAreaField("Plain-text body")
