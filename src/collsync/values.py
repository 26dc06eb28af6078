"""Small value types that the config, the clients and the pipeline share."""

from __future__ import annotations

from typing import Literal

Status = Literal["public", "private"]
"""An Akinon collection's visibility."""
