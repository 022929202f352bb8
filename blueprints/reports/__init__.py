"""The reports pages."""
from flask import Blueprint

from blueprints.reports.ticks import tick_view, tick_views

bp = Blueprint("reports", __name__, url_prefix="/reports")
# What a scheduler tick did, in words (Settings → Scheduler, the settings card, the home page).
bp.add_app_template_global(tick_views, "tick_views")
bp.add_app_template_global(tick_view, "tick_view")
