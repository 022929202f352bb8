"""The triggers pages."""
from flask import Blueprint

bp = Blueprint("triggers", __name__, url_prefix="/triggers")

from blueprints.triggers.kinds import kind_label, trigger_kind_label  # noqa: E402
from models.trigger import FEED_KINDS  # noqa: E402

bp.add_app_template_global(kind_label, "kind_label")
bp.add_app_template_global(trigger_kind_label, "trigger_kind_label")
bp.add_app_template_global(FEED_KINDS, "feed_kinds")
