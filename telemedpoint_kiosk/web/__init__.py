"""The kiosk web app (Starlette): server-rendered pages for a touch screen."""
