"""Retrieval: one module per retriever (vector, keyword, sql, graph), `fuse.py` to merge their lists.

Each retriever answers a question with ranked `Hit`s from one store; fusion compares ranks,
not scores, because a cosine and a BM25 score share no scale.
"""
