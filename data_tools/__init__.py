"""Command-line tools for data engineers (``python -m data_tools.<tool> --help``)."""
