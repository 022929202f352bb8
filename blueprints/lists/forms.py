from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField

from models.contact_list import LIST_NAME_MAX


class ListNameForm(FlaskForm):
    """A list's name (new list, rename). The form only parses; engine.contacts.lists
    cleans and checks it, so the page and the API say the same."""

    name = StringField("Name", render_kw={"maxlength": LIST_NAME_MAX})


class AddMembersForm(FlaskForm):
    people = TextAreaField("Emails or external ids", description="One per line; up to 1,000 at once.",
                           render_kw={"rows": 4, "placeholder": "ann@acme.io\nu-1042"})


class ContactListForm(FlaskForm):
    """The contact page's "Add to list" picker, and its per-list remove buttons."""

    list_id = HiddenField()
