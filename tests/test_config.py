"""Configuration from the environment: production safety, URL normalisation, defaults."""

from __future__ import annotations

import os
import secrets
import stat
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from collab import config as config_module
from collab import create_app
from collab.config import Config

STRONG_KEY = "Zq3" + secrets.token_urlsafe(48)
CONFIG_VARIABLES = (
    "APP_ENV",
    "SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "RATELIMIT_STORAGE_URL",
    "ACCESS_TOKEN_EXPIRES",
    "REFRESH_TOKEN_EXPIRES",
    "RATELIMIT_ENABLED",
    "RATELIMIT_DEFAULT",
    "RATELIMIT_LOGIN_IP",
    "RATELIMIT_LOGIN_EMAIL",
    "RATELIMIT_REGISTER",
    "RATELIMIT_LINK_JOIN",
    "RATELIMIT_VERSIONS",
    "PROXY_COUNT",
    "FEATURE_FLAG_CACHE_SECONDS",
    "DB_POOL_SIZE",
    "DB_MAX_OVERFLOW",
    "MONGODB_URL",
    "MONGODB_DATABASE",
    "CORS_ORIGINS",
    "REDIS_MAX_CONNECTIONS",
    "SESSION_CACHE_SECONDS",
    "LOG_LEVEL",
)


@pytest.fixture()
def env(monkeypatch):
    """A clean slate: none of the app's variables set (the default is production mode)."""
    for name in CONFIG_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture()
def instance_dir(monkeypatch, tmp_path) -> Path:
    """Where a non-production install keeps its generated key, here a temporary folder."""
    monkeypatch.setattr(config_module, "INSTANCE_DIR", tmp_path / "instance")
    return tmp_path / "instance"


# --- production mode: the secret key -------------------------------------------------------


def test_production_is_the_default_and_refuses_to_start_without_a_key(env):
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        Config()
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        create_app()


def test_explicit_production_refuses_to_start_without_a_key(env):
    env.setenv("APP_ENV", "production")
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        create_app()
    env.setenv("SECRET_KEY", "   ")  # blank counts as unset
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        create_app()


@pytest.mark.parametrize(
    "key",
    [
        "changeme",
        "secret",
        "CHANGEME",
        "please-change-me",
        "short-but-random-Xy7",
        STRONG_KEY[:31],  # one character too short
        "a" * 64,  # long but no variety
        "abababababababababababababababababab",
    ],
)
def test_production_refuses_a_weak_key(env, key):
    env.setenv("SECRET_KEY", key)
    with pytest.raises(RuntimeError, match="too weak") as error:
        create_app()
    assert repr(key) not in str(error.value)  # the key itself is never echoed into logs
    if len(key) > 12:
        assert key not in str(error.value)


@pytest.mark.parametrize("app_env", ["Production", "prod", "staging", "PRODUCTON"])
def test_any_other_app_env_gets_the_production_rules(env, instance_dir, app_env):
    """A misspelt APP_ENV must not start a deployment on a generated local key."""
    env.setenv("APP_ENV", app_env)
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        Config()
    env.setenv("SECRET_KEY", "changeme")
    with pytest.raises(RuntimeError, match="too weak"):
        Config()
    assert not (instance_dir / "secret_key").exists()


def test_production_accepts_a_strong_key(env, base_env, tmp_path):
    for name in ("REDIS_URL", "MONGODB_URL"):
        env.setenv(name, base_env[name])
    env.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'prod.db'}")
    env.setenv("SECRET_KEY", f"  {STRONG_KEY}  ")
    app = create_app()
    assert app.config["APP_ENV"] == "production"
    assert app.config["TESTING"] is False
    assert app.config["SECRET_KEY"] == STRONG_KEY
    assert app.config["JWT_SECRET_KEY"] == STRONG_KEY
    assert app.test_client().get("/health").json == {"status": "ok"}


# --- development and testing: a generated local key ----------------------------------------


@pytest.mark.parametrize("app_env", ["development", "testing", "Development"])
def test_non_production_generates_a_persistent_local_key(env, instance_dir, app_env):
    env.setenv("APP_ENV", app_env)
    first = Config()
    assert config_module.is_strong_secret(first.SECRET_KEY)
    key_file = instance_dir / "secret_key"
    assert key_file.read_text().strip() == first.SECRET_KEY
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert Config().SECRET_KEY == first.SECRET_KEY  # kept across restarts
    assert os.listdir(instance_dir) == ["secret_key"]


def test_non_production_uses_a_given_key(env, instance_dir):
    env.setenv("APP_ENV", "development")
    env.setenv("SECRET_KEY", "dev")  # weak keys are tolerated outside production
    assert Config().SECRET_KEY == "dev"
    assert not instance_dir.exists()


def test_processes_starting_together_share_one_complete_key(env, instance_dir):
    """web and worker start at the same moment on a fresh install: every one of them must
    read the same, complete key (not an empty half-written file, not an error)."""
    env.setenv("APP_ENV", "development")

    def start(barrier: threading.Barrier, keys: list[str]) -> None:
        barrier.wait()
        try:
            keys.append(config_module.local_secret_key())
        except OSError as error:
            keys.append(f"error: {error!r}")

    for attempt in range(20):
        config_module.INSTANCE_DIR = instance_dir / str(attempt)
        barrier = threading.Barrier(8)
        keys: list[str] = []
        threads = [threading.Thread(target=start, args=(barrier, keys)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(keys)) == 1, keys
        assert config_module.is_strong_secret(keys[0]), keys
        assert os.listdir(config_module.INSTANCE_DIR) == ["secret_key"]


# --- database URL ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        (
            "postgresql://u:p@h:5432/db?sslmode=require",
            "postgresql+psycopg://u:p@h:5432/db?sslmode=require",
        ),
        ("postgresql+psycopg://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_database_url_is_normalised(env, given, expected):
    env.setenv("SECRET_KEY", STRONG_KEY)
    env.setenv("DATABASE_URL", given)
    normalised = Config().SQLALCHEMY_DATABASE_URI
    assert normalised == expected


def test_postgres_gets_a_checked_pool(env):
    env.setenv("SECRET_KEY", STRONG_KEY)
    env.setenv("DATABASE_URL", "postgres://u:p@h/db")
    options = Config().SQLALCHEMY_ENGINE_OPTIONS
    assert options["pool_pre_ping"] is True
    assert (options["pool_size"], options["max_overflow"]) == (20, 20)
    env.setenv("DB_POOL_SIZE", "5")
    env.setenv("DB_MAX_OVERFLOW", "0")
    options = Config().SQLALCHEMY_ENGINE_OPTIONS
    assert (options["pool_size"], options["max_overflow"]) == (5, 0)


def test_pool_pre_ping_can_be_switched_off(env):
    env.setenv("SECRET_KEY", STRONG_KEY)
    env.setenv("DATABASE_URL", "postgres://u:p@h/db")
    env.setenv("DB_POOL_PRE_PING", "false")
    assert Config().SQLALCHEMY_ENGINE_OPTIONS["pool_pre_ping"] is False


# --- defaults --------------------------------------------------------------------------------


def test_defaults(env):
    env.setenv("SECRET_KEY", STRONG_KEY)
    config = Config()
    instance = config_module.INSTANCE_DIR
    default_instance = Path(config_module.__file__).resolve().parent.parent / "instance"
    assert instance == Path(os.environ.get("INSTANCE_DIR") or default_instance)
    expected = {
        "APP_ENV": "production",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'collab.db'}",
        "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"timeout": 30}},
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "REDIS_MAX_CONNECTIONS": 200,
        "MONGODB_URL": "mongodb://127.0.0.1:27017",
        "MONGODB_DATABASE": "collab",
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(seconds=900),
        "JWT_REFRESH_TOKEN_EXPIRES": timedelta(days=7),
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
        "RATELIMIT_DEFAULT": "300/minute",
        "RATELIMIT_LOGIN_IP": "10/minute",
        "RATELIMIT_LOGIN_EMAIL": "5/minute",
        "RATELIMIT_REGISTER": "10/hour",
        "RATELIMIT_LINK_JOIN": "10/minute",
        "RATELIMIT_VERSIONS": "60/hour",
        "CORS_ORIGINS": [],
        "PROXY_COUNT": 0,
        "FEATURE_FLAG_CACHE_SECONDS": 5,
        "SESSION_CACHE_SECONDS": 60,
        "LOG_LEVEL": "INFO",
    }
    assert {name: getattr(config, name) for name in expected} == expected
    fixed = {name: getattr(config, name) for name in dir(Config) if name.isupper()}
    assert fixed["MAX_CONTENT_LENGTH"] == 1024 * 1024
    assert fixed["JWT_ALGORITHM"] == "HS256"
    assert fixed["JWT_DECODE_ALGORITHMS"] == ["HS256"]
    assert fixed["RATELIMIT_STRATEGY"] == "moving-window"
    assert fixed["RATELIMIT_HEADERS_ENABLED"] is True
    assert fixed["TESTING"] is False


def test_overrides_from_the_environment(env):
    env.setenv("SECRET_KEY", STRONG_KEY)
    env.setenv("ACCESS_TOKEN_EXPIRES", "60")
    env.setenv("REFRESH_TOKEN_EXPIRES", "3600")
    env.setenv("REDIS_URL", "redis://cache:6379/1")
    env.setenv("RATELIMIT_DEFAULT", "50/second")
    env.setenv("PROXY_COUNT", "2")
    env.setenv("CORS_ORIGINS", "https://a.example, https://b.example,")
    config = Config()
    lifetimes = (config.JWT_ACCESS_TOKEN_EXPIRES, config.JWT_REFRESH_TOKEN_EXPIRES)
    assert lifetimes == (timedelta(seconds=60), timedelta(hours=1))
    assert config.RATELIMIT_STORAGE_URI == "redis://cache:6379/1"
    assert config.RATELIMIT_DEFAULT == "50/second"
    assert config.PROXY_COUNT == 2
    assert config.CORS_ORIGINS == ["https://a.example", "https://b.example"]
    env.setenv("RATELIMIT_STORAGE_URL", "redis://limits:6379/2")
    assert Config().RATELIMIT_STORAGE_URI == "redis://limits:6379/2"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("false", False), ("0", False), ("off", False), ("no", False), ("true", True), ("1", True)],
)
def test_ratelimit_enabled_switch(env, value, expected):
    env.setenv("SECRET_KEY", STRONG_KEY)
    env.setenv("RATELIMIT_ENABLED", value)
    assert Config().RATELIMIT_ENABLED is expected


def test_a_malformed_number_names_its_variable(env):
    env.setenv("SECRET_KEY", STRONG_KEY)
    env.setenv("ACCESS_TOKEN_EXPIRES", "15m")
    with pytest.raises(RuntimeError, match="ACCESS_TOKEN_EXPIRES must be a whole number"):
        Config()


def test_tokens_issued_by_the_app_use_the_configured_lifetimes(client, make_user):
    import jwt

    account = make_user("carol")
    response = client.post(
        "/api/v1/auth/login", json={"email": account.email, "password": account.password}
    )
    assert response.status_code == 200
    assert response.json["expires_in"] == 900
    access = jwt.decode(response.json["access_token"], options={"verify_signature": False})
    refresh = jwt.decode(response.json["refresh_token"], options={"verify_signature": False})
    assert access["exp"] - access["iat"] == 900
    assert refresh["exp"] - refresh["iat"] == 7 * 24 * 3600


def test_redis_tls_verification_can_be_relaxed_for_self_signed_servers(make_app):
    plain = make_app(REDIS_URL="redis://127.0.0.1:6379/0", REDIS_TLS_VERIFY="false")
    assert plain.config["REDIS_URL"] == "redis://127.0.0.1:6379/0"  # no TLS: nothing to relax
    tls = make_app(REDIS_URL="rediss://h:6380/0", REDIS_TLS_VERIFY="false")
    assert tls.config["REDIS_URL"] == "rediss://h:6380/0?ssl_cert_reqs=none"
    assert tls.config["RATELIMIT_STORAGE_URI"] == tls.config["REDIS_URL"]
    strict = make_app(REDIS_URL="rediss://h:6380/0")
    assert strict.config["REDIS_URL"] == "rediss://h:6380/0"
