"""API endpoints (filled by its area)."""
