from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError


def _single_line(_form, field):
    if field.data and ("\r" in field.data or "\n" in field.data):
        raise ValidationError("Must be a single line.")


class EmailTemplateForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Give the template a name."), Length(max=128),
                                           _single_line], filters=[lambda v: v.strip() if v else v])
    subject = StringField("Subject", validators=[DataRequired("The subject is empty."), Length(max=998),
                                                 _single_line])
    html = TextAreaField("HTML body")
    text = TextAreaField("Plain-text body")
