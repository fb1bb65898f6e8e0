"""A tiny registry in the spirit of timm's ``create_model``: names map to factories, heavy imports stay lazy.

Each backend module registers a factory function; the factory does the heavy import (TensorFlow, dlib, ...)
only when called, so ``import core`` stays fast and a missing optional package only matters when its backend
is actually asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from core.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class BackendChoice:
    """Which backend a setting resolved to, and why (shown to the user): detectors, embedders, emotion models."""

    requested: str
    name: str
    reason: str


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}
        self._descriptions: dict[str, str] = {}

    def register(self, name: str, description: str = "") -> Callable[[Callable[..., T]], Callable[..., T]]:
        key = name.lower()

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if key in self._factories:
                raise ValueError(f"{self.kind} backend {name!r} registered twice")
            self._factories[key] = factory
            self._descriptions[key] = description or ((factory.__doc__ or "").strip().splitlines() or [""])[0]
            return factory

        return decorator

    def names(self) -> list[str]:
        return sorted(self._factories)

    def describe(self) -> dict[str, str]:
        return {name: self._descriptions[name] for name in self.names()}

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._factories

    def create(self, name: str, **kwargs) -> T:
        key = name.lower()
        if key not in self._factories:
            raise ConfigError(f"unknown {self.kind} backend {name!r}; choose one of: {', '.join(self.names())}")
        return self._factories[key](**kwargs)
