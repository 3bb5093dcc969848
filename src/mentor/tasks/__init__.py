"""Built-in tasks: evaluators and data generators (SYLLO)."""
