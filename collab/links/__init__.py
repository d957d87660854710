"""Share links blueprint: routes.py (views), schemas.py (contract), service.py (logic)."""
