"""The outbox pages."""
from flask import Blueprint

from models.outbox import reason_label

bp = Blueprint("outbox", __name__, url_prefix="/outbox")
# One mapping from reason code to label for every page (outbox, reports, dashboard).
bp.add_app_template_global(reason_label, "reason_label")
