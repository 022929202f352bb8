from engine.reports.csv_cells import safe_cell, safe_row


def test_formula_starts_get_a_quote_and_plain_values_do_not():
    for v in ("=1+1", "+1", "-1", "@x", "\tx", "\rx"):
        assert safe_cell(v) == "'" + v
    assert safe_row(["plain", 5, None, "a=b", ""]) == ["plain", 5, None, "a=b", ""]
