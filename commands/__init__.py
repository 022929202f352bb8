"""`flask nudge ...`: the command-line contract in DESIGN.md."""
from flask.cli import AppGroup

nudge_group = AppGroup("nudge", help="Nudge commands.")
