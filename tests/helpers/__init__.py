"""Test doubles and data builders shared by the test suite (``tests/`` is on ``sys.path``
through pytest's ``pythonpath``; nothing in ``src/`` imports them)."""
