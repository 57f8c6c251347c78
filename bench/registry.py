"""One registry mechanism for tasks, algorithms, model presets and suites.

A registry maps a name to a factory with a one-line description. Names are registered with a
decorator; registering a name twice is an error, asking for an unknown name raises an error
that lists the valid names, and tests can ``clear()`` a registry and restore it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Iterator


class BenchError(Exception):
    """An error the CLI reports as one sentence, with ``exit_code``."""

    exit_code = 1


class UnknownNameError(BenchError, LookupError):
    exit_code = 2


class UsageError(BenchError):
    """A bad command-line flag or flag value."""

    exit_code = 2


@dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable[..., Any]
    description: str


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, description: str | None = None) -> Callable:
        """Decorator: ``@REGISTRY.register("name", "one line")`` (default: the docstring's first line)."""

        def decorate(factory: Callable) -> Callable:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered; pick another name.")
            lines = (factory.__doc__ or "").strip().splitlines()
            self._entries[name] = Entry(name, factory, description or (lines[0] if lines else ""))
            return factory

        return decorate

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(sorted(self._entries)) or "(none registered)"
            raise UnknownNameError(f"unknown {self.kind} {name!r}; valid {self.kind}s: {valid}") from None

    def build(self, name: str, /, **options: Any) -> Any:
        """Call the factory of ``name`` with ``options``, refusing options it does not take."""
        factory = self.get(name).factory
        params = inspect.signature(factory).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            unknown = sorted(set(options) - set(params))
            if unknown:
                valid = ", ".join(params) or "none"
                raise BenchError(f"{self.kind} {name!r} has no option {unknown[0]!r}; its options: {valid}")
        return factory(**options)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def clear(self) -> dict[str, Entry]:
        """Empty the registry and return what it held (``restore`` puts it back)."""
        saved, self._entries = self._entries, {}
        return saved

    def restore(self, saved: dict[str, Entry]) -> None:
        self._entries = dict(saved)


TASKS = Registry("task")
ALGORITHMS = Registry("algorithm")
MODELS = Registry("model preset")
SUITES = Registry("suite")
