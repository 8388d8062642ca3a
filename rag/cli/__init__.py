"""The `rag` command: one module per command group, rendering apart from the work (`rag.cli.app:main`)."""
