"""Errors shared by every store backend."""

from __future__ import annotations


class StoreUnavailable(Exception):
    """A store cannot be reached or opened; the message names the store and its URL (secrets masked)."""
