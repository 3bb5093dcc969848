"""SQLite state: schema + ordered migrations, typed access per table."""

from mentor.store.db import connect, migrate, transaction

__all__ = ["connect", "migrate", "transaction"]
