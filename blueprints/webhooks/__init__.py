"""Provider webhooks for bounces, complaints and deliveries: no login, no CSRF
(each provider proves itself by its signature), JSON answers."""
from flask import Blueprint

from extensions import csrf

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
csrf.exempt(bp)
