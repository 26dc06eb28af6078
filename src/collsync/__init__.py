"""collsync: migrate and sync product collections from a Commerscale store to Akinon Commerce."""

# Written here, read by the build (pyproject.toml): importlib.metadata would cost every run
# ~20 ms of start-up to look it up.
__version__ = "0.1.0"

__all__ = ["__version__"]
