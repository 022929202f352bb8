"""Extension points: tabs on the account page, sections on the contact page.

Another area adds its own without editing the accounts templates or routes:

    from blueprints.accounts.panels import account_tab, contact_section

    @account_tab("communications", "Communications", "reports/_account_communications.html",
                 order=30)
    def communications_tab(account, args):
        return {"rows": ...}     # extra context for the template

    @contact_section("emails", "Emails", "reports/_contact_emails.html", order=40)
    def emails_section(contact, args):
        return {"messages": ...}

Account page: tabs show in `order` (Contacts 10, Recent events 20); `?tab=<key>` picks
one (an unknown key is a 404). Tab links and paging inside a tab swap the inside of
`#account-tabs` (tab strip + panel) with htmx: an htmx GET whose HX-Target is
`account-tabs` gets just that. Links inside a tab:
`url_for('accounts.detail', account_id=account.id, tab='<key>', page=2)` with
`hx-target="#account-tabs"` (ui.pager(..., target="#account-tabs") does this).
`count(account) -> int | None` on a tab adds a number badge to it.

Contact page: sections show in `order` as cards in the main column (Event timeline is 50),
each in `<section id="section-<key>">` with a header showing the label (and the loader's
optional `summary` text). An htmx GET with `?section=<key>` returns only the inside of
that card, so a section can page itself: `hx-get="{{ url_for('accounts.contact_detail',
contact_id=contact.id, section='<key>', emails_page=2) }}" hx-target="#section-<key>"`.
Use a page parameter of your own (`events_page` is taken; `page` too, by convention).

`args` is request.args. The template sees the loader's keys plus `account` / `contact`,
`panel` (this Panel) and `now`; those names win over a loader key of the same name.
"""
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Panel:
    key: str
    label: str
    template: str
    load: Callable
    order: int = 50
    count: Callable | None = None


ACCOUNT_TABS: dict[str, Panel] = {}
CONTACT_SECTIONS: dict[str, Panel] = {}


def account_tab(key: str, label: str, template: str, *, order: int = 50, count: Callable | None = None):
    """Decorator registering `load(account, args) -> dict` as a tab on the account page."""

    def register(load):
        ACCOUNT_TABS[key] = Panel(key, label, template, load, order, count)
        return load

    return register


def contact_section(key: str, label: str, template: str, *, order: int = 50):
    """Decorator registering `load(contact, args) -> dict` as a section on the contact page."""

    def register(load):
        CONTACT_SECTIONS[key] = Panel(key, label, template, load, order)
        return load

    return register


def ordered(registry: dict[str, Panel]) -> list[Panel]:
    return sorted(registry.values(), key=lambda p: (p.order, p.key))
