"""Documents blueprint: routes.py (views), schemas.py (contract), service.py (metadata),
content.py (the content API of the real-time layer and the views), store.py (the SQL of the
update log), engine.py + replica.py (the child processes where CRDT bytes are applied),
wire.py (the checks of the Yjs format), ipc.py (their frames), tasks.py (compaction, repair)."""
