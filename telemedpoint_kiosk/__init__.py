"""telemedpoint_kiosk package."""
