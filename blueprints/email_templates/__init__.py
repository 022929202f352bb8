"""The email templates pages."""
from flask import Blueprint

bp = Blueprint("email_templates", __name__, url_prefix="/templates")
