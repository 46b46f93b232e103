"""Alembic migrations of every server table (the same schema on SQLite and PostgreSQL)."""
