"""telemed_cli package."""
