"""The web app served at `/`: a single page (clients/web, built into static/ by `make client`)."""
