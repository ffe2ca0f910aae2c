"""arpi: a home alarm backend run as one supervision tree of actors."""

__version__ = "0.1.0"
