"""WSGI entry point: gunicorn -k gevent -w 1 --worker-connections 10000 wsgi:app

gevent's monkey patching must come before every other import: psycopg chooses how it waits
for the database when it is first imported, and redis-py needs the patched socket module.
"""

from gevent import monkey

monkey.patch_all()

from dotenv import load_dotenv  # noqa: E402

from collab import create_app  # noqa: E402

load_dotenv()  # a local .env, if any; real environment variables win

app = create_app()
