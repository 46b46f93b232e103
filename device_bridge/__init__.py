"""device_bridge package."""
