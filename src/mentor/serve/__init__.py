"""The HTTP surface: the REST API (:func:`mentor.serve.app.create_app`) and the dashboard.

``serve`` is a leaf: it imports the core (the engine and its model pool, store, monitor) and
never the daemon or the CLI; nothing in the core imports it. FastAPI and uvicorn are imported only
here, so the CLI's ``generate``/``chat`` ask :mod:`mentor.engine.pool` without loading them.
"""
