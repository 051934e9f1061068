"""Alembic migrations shipped inside the package (script location: this folder)."""
