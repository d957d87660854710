"""Fair scheduling of code-execution jobs across users: admission control in front of RQ.

The rule: a user has at most W jobs in the RQ queue or running at once, W being the number
of live workers on the jobs queue (or `JOBS_FAIR_SHARE`). Their other jobs wait their turn
in a list of their own; each time one of their jobs leaves (it ran, was cancelled or failed),
their next one goes to the RQ queue's tail. So the RQ queue is round-robin over users: a job
has at most W of any one other user's jobs ahead of it, and a user's backlog delays another
user's job by at most one job's run time per worker. Within a user's jobs, the order is that
of submission.

Every job is an RQ job from its submission: one waiting its turn is saved with RQ's status
`deferred` and is in the queue's deferred registry (rq-dashboard shows it there, and RQ
never runs it), then moved to `queued` and pushed when its turn comes. Admission and
promotion are each one atomic Lua step, and submission is one MULTI with RQ's own save, so
no crash or error leaves a job between two states. Per user, in Redis:

- `collab:jobs:fair:admitted:{user}`: a sorted set of the jobs queued or running (score: when
  they were admitted). A set, so releasing a job twice (the worker, then maintenance) is safe;
- `collab:jobs:fair:waiting:{user}`: the list of the jobs waiting their turn, oldest first;
- `collab:jobs:fair:users`: the users with either, for the maintenance pass (`reconcile`),
  which gives back a turn whose release was lost (Redis error, process death) by checking
  the admitted and waiting jobs against MongoDB, and tops users up when workers were added.
"""

from __future__ import annotations

import logging

import redis
from flask import current_app
from rq import Queue
from rq.job import Job, JobStatus
from rq.worker_registration import WORKERS_BY_QUEUE_KEY

from collab.extensions import redis_client
from collab.jobs import store
from collab.tasks import JOBS_QUEUE, queue

log = logging.getLogger(__name__)

ADMITTED_KEY = "collab:jobs:fair:admitted:{}"
WAITING_KEY = "collab:jobs:fair:waiting:{}"
USERS_KEY = "collab:jobs:fair:users"
# An RQ job withdrawn before it ran (cancelled or failed while pending) is kept this long,
# marked canceled, for rq-dashboard; then Redis drops it.
WITHDRAWN_TTL_SECONDS = 3600

# KEYS: admitted, waiting, users, RQ queue, RQ deferred registry, RQ workers of the queue.
# ARGV: job id or '', user id, JOBS_FAIR_SHARE, RQ job key prefix, then RQ statuses.
# The RQ job keys of promoted jobs are only known inside the script (not declared in KEYS):
# fine on one Redis server, which is what RQ supports.
COMMON = """
local admitted, waiting, users, queue, deferred, workers = unpack(KEYS)
local job_id, user_id, configured, prefix = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]

local function share()
  if configured > 0 then return configured end
  local live = 0  -- RQ refreshes a worker's key while it lives: a dead one expires
  for _, worker in ipairs(redis.call('SMEMBERS', workers)) do
    live = live + redis.call('EXISTS', worker)
  end
  return math.max(1, live)
end

local function admit(id)
  redis.call('ZREM', deferred, id)
  if redis.call('EXISTS', prefix .. id) == 0 then return end  -- gone: the reaper fails it
  redis.call('ZADD', admitted, redis.call('TIME')[1], id)
  redis.call('HSET', prefix .. id, 'status', ARGV[5])
  redis.call('RPUSH', queue, id)
end

local function promote()
  local turns = share() - redis.call('ZCARD', admitted)
  for _ = 1, turns do
    local id = redis.call('LPOP', waiting)
    if not id then break end
    admit(id)
  end
  if redis.call('ZCARD', admitted) == 0 and redis.call('LLEN', waiting) == 0 then
    redis.call('SREM', users, user_id)
  else
    redis.call('SADD', users, user_id)
  end
end
"""
# A new job joins the end of its user's line; returns 1 if its turn is now.
SUBMIT = (
    COMMON
    + """
redis.call('RPUSH', waiting, job_id)
promote()
return redis.call('ZSCORE', admitted, job_id) and 1 or 0
"""
)
# A job left (ran, cancelled, failed) or none did (''): the user's next ones get their turn.
# A job withdrawn before a worker took it is marked canceled in RQ too (ARGV[6], [7], [8]).
RELEASE = (
    COMMON
    + """
if job_id ~= '' then
  redis.call('ZREM', admitted, job_id)
  local removed = redis.call('LREM', waiting, 0, job_id) + redis.call('LREM', queue, 0, job_id)
  redis.call('ZREM', deferred, job_id)
  local status = redis.call('HGET', prefix .. job_id, 'status')
  if removed > 0 or status == ARGV[6] then
    redis.call('HSET', prefix .. job_id, 'status', ARGV[7])
    redis.call('EXPIRE', prefix .. job_id, ARGV[8])
  end
end
promote()
"""
)


def jobs_queue() -> Queue:
    return queue(JOBS_QUEUE)


def keys(jobs: Queue, user_id: str) -> list[str]:
    return [
        ADMITTED_KEY.format(user_id),
        WAITING_KEY.format(user_id),
        USERS_KEY,
        jobs.key,
        jobs.deferred_job_registry.key,
        WORKERS_BY_QUEUE_KEY % jobs.name,
    ]


def arguments(job_id: str, user_id: str) -> list:
    configured = current_app.config["JOBS_FAIR_SHARE"]
    return [job_id, user_id, configured, Job.redis_job_namespace_prefix, JobStatus.QUEUED.value]


def submit(job: Job, user_id: str) -> bool:
    """Save the RQ job (created `deferred`) and put it in its user's line, in one MULTI: it is
    queued now (True) or when its turn comes. Raises redis.RedisError (then nothing was
    saved)."""
    jobs = jobs_queue()
    with jobs.connection.pipeline(transaction=True) as pipe:
        job.save(pipeline=pipe)
        jobs.deferred_job_registry.add(job, pipeline=pipe)
        pipe.sadd(jobs.redis_queues_keys, jobs.key)
        pipe.eval(SUBMIT, 6, *keys(jobs, user_id), *arguments(job.id, user_id))
        return bool(pipe.execute()[-1])


def release(user_id: str, job_id: str = "") -> None:
    """The job left the queue or its worker: give its turn to the user's next job. Without a
    job, only tops the user up to their share. A Redis error is only logged: `reconcile`
    gives the turn back later."""
    extra = [JobStatus.DEFERRED.value, JobStatus.CANCELED.value, WITHDRAWN_TTL_SECONDS]
    jobs = jobs_queue()
    try:
        jobs.connection.eval(RELEASE, 6, *keys(jobs, user_id), *arguments(job_id, user_id), *extra)
    except redis.RedisError:
        log.warning("job %s: its user's next job was not let in", job_id, exc_info=True)


def reconcile() -> list[str]:
    """Give back the turns of jobs that are finished in MongoDB (a release that was lost) and
    let users' next jobs in (the share grew); the ids of the jobs released."""
    released = []
    for user_id in redis_client.smembers(USERS_KEY):
        for job_id in finished_jobs(user_id):
            release(user_id, job_id)
            released.append(job_id)
        release(user_id)
    return released


def finished_jobs(user_id: str) -> list[str]:
    """The user's admitted and waiting jobs that MongoDB says are finished (or has no more)."""
    ids = set(redis_client.zrange(ADMITTED_KEY.format(user_id), 0, -1))
    ids |= set(redis_client.lrange(WAITING_KEY.format(user_id), 0, -1))
    unfinished = store.unfinished_ids(ids)
    return sorted(ids - unfinished)
