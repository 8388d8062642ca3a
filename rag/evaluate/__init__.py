"""`rag eval`: public evaluation sets in one format, retrieval and answer metrics, reports."""
