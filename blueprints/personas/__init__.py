"""The personas pages."""
from flask import Blueprint

bp = Blueprint("personas", __name__, url_prefix="/personas")
