"""Commands: filled in by its issue's work (no register() yet)."""
