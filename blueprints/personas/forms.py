from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField


class PersonaForm(FlaskForm):
    """Name and description (the rule comes from the rule builder's rule_json field).
    The form only parses; engine.personas.editing validates and saves."""

    name = StringField("Name", render_kw={"maxlength": 128})
    description = TextAreaField("Description", render_kw={"maxlength": 2000})
