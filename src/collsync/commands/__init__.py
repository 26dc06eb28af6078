"""The click commands, one module per command group; ``collsync.cli`` assembles them."""
