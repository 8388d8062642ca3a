"""Rules every layer shares, in one place: they import nothing of the project but models and settings."""
