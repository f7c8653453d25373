"""What every request of the App shares: its environment and the sealer of its secrets, made
once per process from the environment Django's settings read."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .environment import AppEnvironment
from .sealed import Sealer


@dataclass(frozen=True)
class AppContext:
    environment: AppEnvironment
    sealer: Sealer


@lru_cache(maxsize=1)
def app_context() -> AppContext:
    from django.conf import settings

    environment: AppEnvironment = settings.ENVIRONMENT
    return AppContext(environment, Sealer(environment.secret_key))
