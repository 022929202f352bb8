"""The lists pages: hand-kept sets of contacts, their members and their history."""
from flask import Blueprint

bp = Blueprint("lists", __name__, url_prefix="/lists")
