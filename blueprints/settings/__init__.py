"""Settings: API keys, staff, CSV import, dev inbox, scheduler status."""
from flask import Blueprint

bp = Blueprint("settings", __name__, url_prefix="/settings")
