"""The triggers pages."""
from flask import Blueprint

bp = Blueprint("triggers", __name__, url_prefix="/triggers")
