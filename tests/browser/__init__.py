import os
from pathlib import Path


def shot(target, name, **options):
    """A screenshot of a page (full page) or an element into $NUDGE_SHOTS/<name>.png, for
    looking at what a test saw; nothing when NUDGE_SHOTS is not set (CI)."""
    folder = os.environ.get("NUDGE_SHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    if hasattr(target, "goto"):
        options.setdefault("full_page", True)
    target.screenshot(path=str(Path(folder) / f"{name}.png"), **options)
