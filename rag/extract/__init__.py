"""Entities and relations from chunks: the offline heuristics and the LLM extractor (shared by
ingestion, which builds the graph, and the graph retriever, which links a question to it)."""
