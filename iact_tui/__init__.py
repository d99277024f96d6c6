"""iact-tui: a terminal wizard that runs a whole software release."""

__version__ = "0.1.0"
