"""FastAPI planning service (``POST /plan``). Built in a later issue."""
