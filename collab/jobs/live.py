"""What Redis knows about recent jobs, besides MongoDB.

- A summary of each job's latest stored state (everything GET shows except the output), kept
  for a day: `GET /jobs/{id}` answers from it while MongoDB is down instead of failing.
- The output of a running job, chunk by chunk, stored before each chunk is broadcast: a client
  that opens a job mid-run reads the output so far (with `output_seq`, the last chunk included)
  and applies only the `job:output` events after it; nothing it was sent is missing.

Both are best effort: a Redis outage loses neither a job nor its result (MongoDB and the
worker's parked results have those), only this second copy.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

import redis

from collab.extensions import redis_client

log = logging.getLogger(__name__)

SUMMARY_KEY = "collab:jobs:summary:{}"
SUMMARY_TTL_SECONDS = 24 * 3600
OUTPUT_KEY = "collab:jobs:output:{}"
OUTPUT_TTL_SECONDS = 600  # refreshed by each chunk: a finished job's chunks go 10 min later
# Too large to copy, or never shown: the summary leaves them out.
LEFT_OUT = ("code", "stdin", "output", "stderr", "files", "test_cases", "tests")
DATETIMES = ("created_at", "started_at", "finished_at")


def encode(values: dict) -> str:
    return json.dumps(values, default=datetime.isoformat)


def decode(raw: str) -> dict:
    values = json.loads(raw)
    for name in DATETIMES:
        if values.get(name):
            values[name] = datetime.fromisoformat(values[name])
    return values


def remember(document: dict) -> None:
    """Keep a summary of a job document just stored in MongoDB (its `to_mongo()` form)."""
    summary = {k: v for k, v in document.items() if k not in LEFT_OUT}
    try:
        redis_client.set(
            SUMMARY_KEY.format(document["_id"]), encode(summary), ex=SUMMARY_TTL_SECONDS
        )
    except redis.RedisError:
        log.warning("could not keep the summary of job %s", document["_id"], exc_info=True)


def recall(job_id: str) -> dict | None:
    """The job document as Redis last knew it (without code, stdin and output), or None."""
    raw = redis_client.get(SUMMARY_KEY.format(job_id))
    return decode(raw) if raw is not None else None


def keep_chunk(job_id: str, chunk: dict) -> None:
    """Store one output chunk ({seq, stream, chunk}); raises redis.RedisError."""
    key = OUTPUT_KEY.format(job_id)
    redis_client.pipeline().rpush(key, encode(chunk)).expire(key, OUTPUT_TTL_SECONDS).execute()


def forget_output(job_id: str) -> None:
    """Drop the chunks of a run that will not finish (its job runs again)."""
    redis_client.delete(OUTPUT_KEY.format(job_id))


def output_so_far(job_id: str) -> dict:
    """{output, stderr, output_seq}: the stored chunks joined, and the last one's seq."""
    chunks = [json.loads(raw) for raw in redis_client.lrange(OUTPUT_KEY.format(job_id), 0, -1)]
    streams = {"stdout": "", "stderr": ""}
    for chunk in chunks:
        streams[chunk["stream"]] += chunk["chunk"]
    last_seq = chunks[-1]["seq"] if chunks else 0
    return {"output": streams["stdout"], "stderr": streams["stderr"], "output_seq": last_seq}
