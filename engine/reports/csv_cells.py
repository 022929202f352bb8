"""Spreadsheet-safe CSV cells: untrusted text must not run as a formula (OWASP CSV injection)."""

# Characters a spreadsheet treats as the start of a formula (OWASP list, plus tab and CR).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """Prefix text that starts like a formula with ' so spreadsheets show it as text."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return value


def safe_row(values):
    return [safe_cell(v) for v in values]
