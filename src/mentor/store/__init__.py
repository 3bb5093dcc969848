"""SQLite state: schema + ordered migrations, typed access per table."""

from mentor.store.db import connect, connect_readonly, migrate, transaction

__all__ = ["connect", "connect_readonly", "migrate", "transaction"]
