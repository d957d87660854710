"""Documents blueprint: routes.py (views), schemas.py (contract), service.py (metadata and the
content API of the real-time layer), store.py (the SQL of the update log), crdt.py (pycrdt),
tasks.py (compaction on RQ)."""
