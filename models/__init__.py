"""All models, imported here so Alembic and create_all see every table."""
from models.account import Account
from models.api_key import ApiKey
from models.bounce import BounceRecord
from models.communication import Communication
from models.contact import Contact
from models.contact_change import ContactChange
from models.contact_list import ContactList, ListMember
from models.delivery import DeliveryEvent
from models.event import Event
from models.event_day import EventDay
from models.import_job import ImportJob
from models.outbox import OutboxMessage
from models.persona import Persona, PersonaMember, PersonaTransition
from models.report import ReportDay, ReportDayContact, ReportFoldLock, ReportRecipient
from models.sink_message import SinkMessage
from models.staff import LoginThrottle, Staff
from models.template import EmailTemplate
from models.trigger import TickRun, Trigger, TriggerRun

__all__ = [
    "Account", "ApiKey", "BounceRecord", "Communication", "Contact", "ContactChange",
    "ContactList", "DeliveryEvent", "EmailTemplate",
    "Event", "EventDay", "ImportJob", "ListMember", "LoginThrottle", "OutboxMessage", "Persona", "PersonaMember",
    "PersonaTransition", "ReportDay", "ReportDayContact", "ReportFoldLock", "ReportRecipient",
    "SinkMessage", "Staff", "TickRun", "Trigger", "TriggerRun",
]
