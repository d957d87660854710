"""RQ worker: python worker.py [queue ...]

Runs with the app's context, so jobs can use the database and the other extensions. SIGTERM
is a warm shutdown: the current job finishes, then the worker exits (Heroku-style).
"""

from __future__ import annotations

import sys

from dotenv import load_dotenv
from rq import Worker

from collab import create_app
from collab.jobs.recovery import start_maintenance
from collab.tasks import QUEUE_NAMES, rq_connection


def main(queue_names: list[str]) -> None:
    load_dotenv()  # a local .env, if any; real environment variables win
    app = create_app()
    with app.app_context():
        # Fails jobs whose worker died and stores results parked during a MongoDB outage.
        start_maintenance(app)
        worker = Worker(queue_names or QUEUE_NAMES, connection=rq_connection())
        worker.work(with_scheduler=True)


if __name__ == "__main__":
    main(sys.argv[1:])
