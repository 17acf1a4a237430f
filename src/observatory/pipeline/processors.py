"""Processors applied to every item on its way in: resource actions and attribute limits.

Receivers call them while decoding, on plain Python values, so an item is built once with its
final attributes instead of being rewritten in Arrow afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from observatory.errors import ConfigError
from observatory.signals.attributes import AttributeValue

KeyValues = list[tuple[str, AttributeValue]]

_ACTIONS = ("insert", "upsert", "delete")


@dataclass(frozen=True)
class ResourceAction:
    action: str
    key: str
    value: AttributeValue | None = None


class ResourceProcessor:
    """Inserts, upserts and deletes resource attributes, as configured, in order.

    `insert` sets a key only where it is absent; `upsert` sets it always; `delete` removes it.
    """

    def __init__(self, actions: Sequence[ResourceAction]) -> None:
        self.actions = tuple(actions)

    @classmethod
    def from_config(cls, raw: Sequence[Mapping[str, Any]]) -> ResourceProcessor:
        return cls([_parse_action(i, item) for i, item in enumerate(raw)])

    def apply(self, attributes: KeyValues) -> KeyValues:
        if not self.actions:
            return attributes
        merged = dict(attributes)
        for act in self.actions:
            if act.action == "delete":
                merged.pop(act.key, None)
            elif act.action == "upsert" or act.key not in merged:
                merged[act.key] = act.value if act.value is not None else ""
        return list(merged.items())


def _parse_action(index: int, item: Mapping[str, Any]) -> ResourceAction:
    where = f"resource_processor[{index}]"
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: expected a mapping with action, key and value")
    action, key = item.get("action"), item.get("key")
    if action not in _ACTIONS:
        raise ConfigError(f"{where}: action must be one of {', '.join(_ACTIONS)}, not {action!r}")
    if not isinstance(key, str) or not key:
        raise ConfigError(f"{where}: key must be a non-empty string")
    if action != "delete" and "value" not in item:
        raise ConfigError(f"{where}: {action} needs a value")
    return ResourceAction(action, key, item.get("value"))


@dataclass(frozen=True)
class LimitOutcome:
    attributes: KeyValues
    dropped: int
    violated: bool


class AttributeLimits:
    """Caps the number of attributes and the length of string values.

    With `truncate`, extra attributes are dropped (and counted as OTLP's
    dropped_attributes_count) and long strings are cut; with `reject`, `violated` tells the
    receiver to refuse the whole item.
    """

    def __init__(self, max_count: int, max_value_length: int, action: str) -> None:
        self.max_count = max_count
        self.max_value_length = max_value_length
        self.reject = action == "reject"

    def apply(self, attributes: KeyValues) -> LimitOutcome:
        dropped = max(0, len(attributes) - self.max_count)
        kept = attributes[: self.max_count] if dropped else attributes
        too_long = self._has_long_value(kept)
        if too_long and not self.reject:
            cap = self.max_value_length
            kept = [(k, v[:cap] if isinstance(v, str) else v) for k, v in kept]
        return LimitOutcome(kept, dropped, bool(dropped or too_long))

    def _has_long_value(self, attributes: KeyValues) -> bool:
        cap = self.max_value_length
        # A plain loop: this runs for every item, and a generator costs a frame per call.
        for _, value in attributes:  # noqa: SIM110
            if type(value) is str and len(value) > cap:
                return True
        return False
