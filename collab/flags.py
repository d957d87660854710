"""Feature flags: declared here with their defaults, overridden by rows in the database,
read through a short in-process cache so that hot paths do not query on every request."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from collab.extensions import db
from collab.jobs import languages
from collab.models import FeatureFlag, utcnow


@dataclass(frozen=True)
class FlagSpec:
    name: str
    default: bool
    description: str


FLAGS: dict[str, FlagSpec] = {}


def declare_flag(name: str, default: bool, description: str) -> FlagSpec:
    FLAGS[name] = FlagSpec(name, default, description)
    return FLAGS[name]


REGISTRATION_OPEN = declare_flag("registration_open", True, "New accounts may register.")
MAINTENANCE_MODE = declare_flag(
    "maintenance_mode",
    False,
    "Writes answer 503; reads, login and admin endpoints still work.",
)
CODE_EXECUTION = declare_flag("code_execution", True, "Users may submit code-execution jobs.")
LANGUAGES = {
    name: declare_flag(f"language_{name}", True, f"Jobs in {name} may be submitted.")
    for name in languages.NAMES
}


class FlagCache:
    """Values of every flag, reloaded from the database when older than `ttl` seconds."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._values: dict[str, bool] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def get(self, name: str) -> bool:
        if time.monotonic() - self._loaded_at > self.ttl:
            self.reload()
        return self._values.get(name, FLAGS[name].default)

    def reload(self) -> None:
        rows = db.session.execute(select(FeatureFlag.name, FeatureFlag.enabled)).all()
        with self._lock:
            self._values = {name: enabled for name, enabled in rows}
            self._loaded_at = time.monotonic()

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")


def cache() -> FlagCache:
    return current_app.extensions["collab_flags"]


def is_enabled(name: str) -> bool:
    return cache().get(name)


def flag_state(name: str) -> dict:
    row = db.session.get(FeatureFlag, name)
    spec = FLAGS[name]
    return {
        "name": name,
        "enabled": row.enabled if row else spec.default,
        "default": spec.default,
        "description": spec.description,
        "updated_at": row.updated_at if row else None,
    }


def set_flag(name: str, enabled: bool) -> dict:
    row = db.session.get(FeatureFlag, name) or FeatureFlag(name=name, enabled=enabled)
    row.enabled = enabled
    row.updated_at = utcnow()
    db.session.add(row)
    db.session.commit()
    cache().invalidate()
    return flag_state(name)
