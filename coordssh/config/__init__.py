"""coordinator.yml: schema (schema.py), loading and validation (load.py)."""
