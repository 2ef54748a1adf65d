"""Extensions installed packages declare as Python entry points (as simonw/llm's plugins do): a
package of one's own adds, say, an LLM backend without editing autointerp."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from typing import Generic, TypeVar

from autointerp.errors import InputError

T = TypeVar("T")


def load_entry_points(group: str) -> list[object]:
    """What every entry point of `group` names, loaded; a plugin that fails to load is one error
    naming it (never a half-registered set)."""
    found = []
    for ep in importlib.metadata.entry_points(group=group):
        try:
            found.append(ep.load())
        except Exception as e:  # noqa: BLE001 - any failure of a third-party import, named once
            raise InputError(f"the {group} plugin {ep.name!r} ({ep.value}) failed to load: "
                             f"{type(e).__name__}: {e}") from None
    return found


class Registry(Generic[T]):
    """Things of one kind by key: the built-ins, those registered in this process, and those installed
    packages declare under an entry point group (loaded the first time a key is not known). The
    explainer, scorer and LLM backend registries are each one of these."""

    def __init__(self, group: str, protocol: type, key: Callable[[T], str], what: str, needs: str,
                 check: Callable[[T], None] | None = None) -> None:
        self.group, self.protocol, self.key, self.what, self.needs = group, protocol, key, what, needs
        self.check = check
        self._items: dict[str, T] = {}
        self._discovered = False

    def register(self, item: type | T, replace: bool = False) -> type | T:
        """Add a class (made with no arguments) or an instance; usable as a class decorator. A key
        another class holds is an error unless `replace` (the same class again replaces quietly)."""
        obj = item() if isinstance(item, type) else item
        if not isinstance(obj, self.protocol):
            raise TypeError(f"{item!r} is not {self.what}: it needs {self.needs}")
        if self.check is not None:
            self.check(obj)
        key = self.key(obj)
        held = self._items.get(key)
        if held is not None and type(held) is not type(obj) and not replace:
            raise InputError(f"{self.what} {key!r} is already registered")
        self._items[key] = obj
        return item

    def unregister(self, key: str) -> None:
        """Forget one (a test's toy, say); a key never registered is ignored."""
        self._items.pop(key, None)

    def discover(self) -> list[T]:
        """Register what installed packages declare under the group; what was found."""
        self._discovered = True
        found = []
        for loaded in load_entry_points(self.group):
            obj = loaded() if isinstance(loaded, type) else loaded
            self.register(obj, replace=True)
            found.append(obj)
        return found

    def find(self, key: str) -> T | None:
        if key not in self._items and not self._discovered:
            self.discover()
        return self._items.get(key)

    def keys(self) -> list[str]:
        return [self.key(x) for x in self.all()]

    def all(self) -> list[T]:
        """Every one, in registration order (built-ins first)."""
        if not self._discovered:
            self.discover()
        return list(self._items.values())
