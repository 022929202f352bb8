"""Issue 15 (wording): the form-field macro shows every error as a full sentence, tied to its
input, and marks the field so static/behaviours.js clears it when the field is edited."""
import pytest
from flask import render_template_string
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField


class _Form(FlaskForm):
    class Meta:
        csrf = False

    priority = IntegerField("Priority")
    name = StringField("Name")


@pytest.mark.parametrize("error, shown", [
    ("must be between 0 and 365", "Priority must be between 0 and 365."),  # an API fragment
    ("is required", "Priority is required."),
    ("a from address is required to activate", "A from address is required to activate."),
    ("Give the trigger a name.", "Give the trigger a name."),  # already a sentence: unchanged
    ("Is this right?", "Is this right?"),
])
def test_errors_read_as_sentences(app, error, shown):
    with app.test_request_context():
        form = _Form(formdata=None)
        form.priority.errors = [error]
        html = render_template_string('{% import "_macros.html" as ui %}{{ ui.field(form.priority) }}', form=form)
    assert f'<small class="error">{shown}</small>' in html
    assert 'aria-invalid="true"' in html and 'aria-describedby="priority-error"' in html
    assert 'id="priority-error"' in html and "data-field-errors" in html


def test_a_field_without_errors_is_not_marked(app):
    with app.test_request_context():
        html = render_template_string('{% import "_macros.html" as ui %}{{ ui.field(form.name, placeholder="x") }}',
                                      form=_Form(formdata=None))
    assert "aria-invalid" not in html and "data-field-errors" not in html and "has-error" not in html
    assert 'placeholder="x"' in html


def test_hostile_error_text_is_escaped(app):
    with app.test_request_context():
        form = _Form(formdata=None)
        form.name.errors = ['must not be <script>alert(1)</script>']
        html = render_template_string('{% import "_macros.html" as ui %}{{ ui.field(form.name) }}', form=form)
    assert "<script>" not in html and "&lt;script&gt;" in html
