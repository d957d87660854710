"""Health blueprint: routes.py (views), schemas.py (contract)."""
