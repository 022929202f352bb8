"""Settings: API keys, staff, CSV import, dev inbox, scheduler status."""
