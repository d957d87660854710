"""Configuration, read from the environment (12-factor).

Every variable is documented in the README's configuration table.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

# Local state of a non-production install: the SQLite file, the generated secret key, the
# embedded servers' data. Overridable so that tests can run a whole stack in a temp folder.
INSTANCE_DIR = Path(
    os.environ.get("INSTANCE_DIR") or Path(__file__).resolve().parent.parent / "instance"
)

# Values that appear in tutorials and .env examples: never accept them as a signing key.
WEAK_SECRET_KEYS = {
    "changeme",
    "change-me",
    "secret",
    "dev",
    "development",
    "please-change-me",
}
MIN_SECRET_KEY_LENGTH = 32


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or default


def env_int(name: str, default: int) -> int:
    value = env_str(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise RuntimeError(f"{name} must be a whole number, not {value!r}.") from None


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name)
    if value is None:
        return default
    return value.lower() in {"1", "true", "yes", "on"}


def redis_url(url: str, verify_tls: bool) -> str:
    """The Redis URL every client uses. `verify_tls=False` accepts a TLS server's self-signed
    certificate (Heroku Redis: its URL is set and rotated by the platform, so the option
    cannot live in it)."""
    if verify_tls or not url.startswith("rediss://") or "ssl_cert_reqs=" in url:
        return url
    return f"{url}{'&' if '?' in url else '?'}ssl_cert_reqs=none"


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = env_str(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def normalise_database_url(url: str) -> str:
    """Accept Heroku's `postgres://` form and pick the psycopg 3 driver for PostgreSQL."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def default_database_url() -> str:
    return f"sqlite:///{INSTANCE_DIR / 'collab.db'}"


def is_strong_secret(key: str) -> bool:
    return (
        len(key) >= MIN_SECRET_KEY_LENGTH
        and key.lower() not in WEAK_SECRET_KEYS
        and len(set(key)) >= 10
    )


def local_secret_key() -> str:
    """A random key kept in instance/ so that web and worker share it across restarts.

    Only for development and tests: it is generated on this machine, never shipped.
    """
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        # Written aside, then linked into place: processes starting together (web and
        # worker) never read a half-written file, and exactly one key wins.
        draft = INSTANCE_DIR / f".secret_key.{os.getpid()}.{secrets.token_hex(8)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
            os.link(draft, path)
        except FileExistsError:
            pass  # another process linked its key first: use that one
        finally:
            draft.unlink()
    return path.read_text().strip()


# Only these relax the production rules; any other APP_ENV (a typo, "prod", "staging") gets
# them, so that a misspelt variable can never start a deployment on a generated local key.
NON_PRODUCTION_ENVS = {"development", "testing"}


def app_environment() -> str:
    return (env_str("APP_ENV", "production") or "production").lower()


def log_format(app_env: str) -> str:
    """JSON lines in production (for a log pipeline), readable text in development and tests."""
    default = "text" if app_env in NON_PRODUCTION_ENVS else "json"
    value = (env_str("LOG_FORMAT") or default).lower()
    if value not in {"json", "text"}:
        raise RuntimeError(f"LOG_FORMAT must be json or text, not {value!r}.")
    return value


def resolve_secret_key(app_env: str) -> str:
    key = env_str("SECRET_KEY")
    if app_env not in NON_PRODUCTION_ENVS:
        if key is None:
            raise RuntimeError(
                f"SECRET_KEY is not set: refusing to start with APP_ENV={app_env} "
                f"(only {' and '.join(sorted(NON_PRODUCTION_ENVS))} may run without one)."
            )
        if not is_strong_secret(key):
            raise RuntimeError(
                f"SECRET_KEY is too weak: use at least {MIN_SECRET_KEY_LENGTH} random characters "
                "(python -c 'import secrets; print(secrets.token_urlsafe(48))')."
            )
        return key
    return key or local_secret_key()


def engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {
        "pool_size": env_int("DB_POOL_SIZE", 20),
        "max_overflow": env_int("DB_MAX_OVERFLOW", 20),
        "pool_timeout": 10,
        # On by default: a restarted PostgreSQL (a failover, a minor upgrade) must cost no client
        # a 503 for a read. Each checkout tests its connection first (one round trip) and
        # replaces a dead one; without it, the first request on each dropped connection fails.
        "pool_pre_ping": env_bool("DB_POOL_PRE_PING", True),
        "pool_recycle": 1800,
    }


class Config:
    """Production-safe defaults; everything can be overridden from the environment."""

    TESTING = False

    def __init__(self) -> None:
        self.APP_ENV = app_environment()
        self.SECRET_KEY = resolve_secret_key(self.APP_ENV)
        self.JWT_SECRET_KEY = self.SECRET_KEY

        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(
            env_str("DATABASE_URL", default_database_url())
        )
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI)
        self.REDIS_URL = redis_url(
            env_str("REDIS_URL", "redis://127.0.0.1:6379/0"), env_bool("REDIS_TLS_VERIFY", True)
        )
        self.REDIS_MAX_CONNECTIONS = env_int("REDIS_MAX_CONNECTIONS", 200)
        self.MONGODB_URL = env_str("MONGODB_URL", "mongodb://127.0.0.1:27017")
        self.MONGODB_DATABASE = env_str("MONGODB_DATABASE", "collab")

        self.JWT_ACCESS_TOKEN_EXPIRES = timedelta(seconds=env_int("ACCESS_TOKEN_EXPIRES", 15 * 60))
        self.JWT_REFRESH_TOKEN_EXPIRES = timedelta(
            seconds=env_int("REFRESH_TOKEN_EXPIRES", 7 * 24 * 3600)
        )

        self.RATELIMIT_ENABLED = env_bool("RATELIMIT_ENABLED", True)
        self.RATELIMIT_STORAGE_URI = env_str("RATELIMIT_STORAGE_URL", self.REDIS_URL)
        self.RATELIMIT_DEFAULT = env_str("RATELIMIT_DEFAULT", "300/minute")
        self.RATELIMIT_LOGIN_IP = env_str("RATELIMIT_LOGIN_IP", "10/minute")
        self.RATELIMIT_LOGIN_EMAIL = env_str("RATELIMIT_LOGIN_EMAIL", "5/minute")
        self.RATELIMIT_REGISTER = env_str("RATELIMIT_REGISTER", "10/hour")
        # Joins through share links per client IP, whatever the outcome: tokens are not guessed.
        self.RATELIMIT_LINK_JOIN = env_str("RATELIMIT_LINK_JOIN", "10/minute")
        self.RATELIMIT_VERSIONS = env_str("RATELIMIT_VERSIONS", "60/hour")

        self.CORS_ORIGINS = env_list("CORS_ORIGINS")
        self.PROXY_COUNT = env_int("PROXY_COUNT", 0)
        self.FEATURE_FLAG_CACHE_SECONDS = env_int("FEATURE_FLAG_CACHE_SECONDS", 5)
        self.SESSION_CACHE_SECONDS = env_int("SESSION_CACHE_SECONDS", 60)
        self.SOCKET_TOKEN_GRACE_SECONDS = env_int("SOCKET_TOKEN_GRACE_SECONDS", 60)
        # Fair shares of the real-time layer (collab/realtime/quotas.py).
        self.SOCKETS_PER_USER = env_int("SOCKETS_PER_USER", 20)
        self.SOCKET_UPDATE_BYTES_PER_SECOND = env_int("SOCKET_UPDATE_BYTES_PER_SECOND", 256 * 1024)
        self.SOCKET_CPU_MS_PER_SECOND = env_int("SOCKET_CPU_MS_PER_SECOND", 200)
        self.CACHE_TTL_SECONDS = env_int("CACHE_TTL_SECONDS", 300)
        self.LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
        self.LOG_FORMAT = log_format(self.APP_ENV)
        self.LOG_REQUESTS = env_bool("LOG_REQUESTS", True)
        # Unset: GET /metrics is 404. Set: a scraper sends it as a bearer token.
        self.METRICS_TOKEN = env_str("METRICS_TOKEN")

        # Documents: their size cap, and the child processes that apply clients' CRDT bytes
        # (collab/documents/engine.py): how many per process, how long a call may take, the
        # address space each may use, the replicas each keeps.
        self.DOCUMENT_MAX_BYTES = env_int("DOCUMENT_MAX_BYTES", 8 * 1024 * 1024)
        self.DOCUMENT_REPLICA_PROCESSES = env_int("DOCUMENT_REPLICA_PROCESSES", 2)
        self.DOCUMENT_REPLICA_TIMEOUT_SECONDS = env_int("DOCUMENT_REPLICA_TIMEOUT_SECONDS", 10)
        self.DOCUMENT_REPLICA_MEMORY_MB = env_int("DOCUMENT_REPLICA_MEMORY_MB", 1024)
        self.DOCUMENT_REPLICA_CACHE_MB = env_int("DOCUMENT_REPLICA_CACHE_MB", 256)
        # History (collab/history): a version once a document has been quiet this long after
        # edits, at least this often while edits go on; older ones thinned to one a day.
        self.DOCUMENT_VERSION_QUIET_SECONDS = env_int("DOCUMENT_VERSION_QUIET_SECONDS", 30)
        self.DOCUMENT_VERSION_MAX_INTERVAL_SECONDS = env_int(
            "DOCUMENT_VERSION_MAX_INTERVAL_SECONDS", 600
        )
        self.DOCUMENT_HISTORY_DAYS = env_int("DOCUMENT_HISTORY_DAYS", 90)

        self.JOB_RETENTION_DAYS = env_int("JOB_RETENTION_DAYS", 30)
        self.ACTIVITY_RETENTION_DAYS = env_int("ACTIVITY_RETENTION_DAYS", 7)
        self.JOBS_MAX_ACTIVE_PER_USER = env_int("JOBS_MAX_ACTIVE_PER_USER", 10)
        self.JOBS_MAX_QUEUED = env_int("JOBS_MAX_QUEUED", 1000)
        # Jobs a user may have queued or running at once (0: as many as live workers).
        self.JOBS_FAIR_SHARE = env_int("JOBS_FAIR_SHARE", 0)
        self.JOBS_MAX_BLOCKING_WAITS = env_int("JOBS_MAX_BLOCKING_WAITS", 50)
        # An interactive job that gets no input for this long ends time_limit_exceeded.
        self.JOBS_INTERACTIVE_IDLE_SECONDS = env_int("JOBS_INTERACTIVE_IDLE_SECONDS", 60)

    # Fixed settings: part of the API contract, not deployment choices.
    MAX_CONTENT_LENGTH = 1024 * 1024
    # POST /api/v1/jobs may carry test cases: 4 MiB of them besides the code and stdin.
    JOBS_MAX_CONTENT_LENGTH = 6 * 1024 * 1024
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    JSON_SORT_KEYS = False

    JWT_TOKEN_LOCATION = ["headers"]
    JWT_ALGORITHM = "HS256"
    JWT_DECODE_ALGORITHMS = ["HS256"]
    JWT_ERROR_MESSAGE_KEY = "message"
    # Tokens travel in the Authorization header only: no cookies, so no CSRF claim to carry.
    JWT_COOKIE_CSRF_PROTECT = False

    RATELIMIT_STRATEGY = "moving-window"
    RATELIMIT_HEADERS_ENABLED = True
    # A Redis outage must not turn every request into a 500: limits fall back to memory.
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_KEY_PREFIX = "collab-rl"

    # argon2id, argon2-cffi's RFC 9106 "low memory" profile.
    PASSWORD_HASH_TIME_COST = 3
    PASSWORD_HASH_MEMORY_COST = 65536
    PASSWORD_HASH_PARALLELISM = 4

    API_TITLE = "collab"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api"
    OPENAPI_JSON_PATH = "openapi.json"
    # Swagger UI at /api/docs; its assets come from the app itself (collab/apidocs.py), and no
    # online validator is called: the page works with no internet access.
    OPENAPI_SWAGGER_UI_PATH = "docs"
    OPENAPI_SWAGGER_UI_URL = "/api/docs/assets/"
    OPENAPI_SWAGGER_UI_CONFIG = {"validatorUrl": None}


class TestConfig(Config):
    """Used by the test suite: cheap password hashing, databases chosen by the fixtures."""

    TESTING = True
    PASSWORD_HASH_TIME_COST = 1
    PASSWORD_HASH_MEMORY_COST = 8
    PASSWORD_HASH_PARALLELISM = 1
