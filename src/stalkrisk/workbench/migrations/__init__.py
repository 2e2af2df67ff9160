"""Alembic migrations of the workbench database, shipped inside the package and applied in code."""
