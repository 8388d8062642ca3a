"""The answer flow: question → retrieval → context → prompt → model → answer with citations."""
