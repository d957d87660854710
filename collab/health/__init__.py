"""Health blueprint: routes.py (the probes), redis_settings.py (the warnings /ready adds)."""
