"""kdlib: the code behind the KD paper companion book (data, models, losses, methods, one trainer, a run store)."""

__version__ = "0.1.0"
