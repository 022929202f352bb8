from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class PersonaForm(FlaskForm):
    """Name and description; the rule comes from the rule builder's rule_json field."""

    name = StringField("Name", validators=[DataRequired(message="Give the persona a name."),
                                           Length(max=128)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])

    def validate_name(self, field):
        # Names show in trigger wizards and emails to staff: no control characters.
        field.data = " ".join((field.data or "").split())
        if not field.data:
            from wtforms.validators import ValidationError

            raise ValidationError("Give the persona a name.")
