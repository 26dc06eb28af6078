"""collsync: migrate and sync product collections from a Commerscale store to Akinon Commerce."""

# Written here, read by the build (pyproject.toml): looking it up with importlib.metadata
# would cost every run start-up time.
__version__ = "0.1.0"

__all__ = ["__version__"]
