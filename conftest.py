"""Root conftest: its presence puts the repository root on ``sys.path`` so
tests import the checkout's ``fastdrive``, ``data_tools`` and ``service``."""
