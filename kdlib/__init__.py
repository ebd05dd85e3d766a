"""kdlib: the code behind the KD paper companion book (data, models, losses, methods, one trainer, a run store)."""

__version__ = "0.1.0"

from kdlib import methods  # noqa: E402,F401  (registers every method and the papers' own networks with kdlib.models)
