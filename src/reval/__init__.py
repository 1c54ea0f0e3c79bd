"""reval: participatory evaluation for people-powered health programmes."""

__version__ = "0.1.0"
