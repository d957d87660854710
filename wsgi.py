"""WSGI entry point: gunicorn -k gevent -w 1 --worker-connections 10000 wsgi:app

gevent's monkey patching must come before every other import: psycopg chooses how it waits
for the database when it is first imported, and redis-py needs the patched socket module.
"""

from gevent import monkey

monkey.patch_all()

import gc  # noqa: E402

from dotenv import load_dotenv  # noqa: E402

from collab import create_app  # noqa: E402

load_dotenv()  # a local .env, if any; real environment variables win

app = create_app()

# Everything built so far (the app, its schemas, SQLAlchemy's mappers) lives as long as the
# process: move it out of the garbage collector's generations, so that full collections under
# load scan only request garbage and pause for much less.
gc.freeze()
gc.set_threshold(20_000, 50, 100)
