"""How database ids become MQTT ids: topic levels and broker usernames must match protocol.ID_PATTERN."""

from __future__ import annotations

from collections.abc import Iterable

from signage_core.protocol import ProtocolError


def screen_wire_id(screen_id: int) -> str:
    """A screen's id on the wire: its database id, which never changes when the screen is renamed."""
    return str(screen_id)


def parse_screen_wire_id(wire_id: str) -> int:
    """The database id behind a wire id, refusing anything the server never handed out."""
    if not wire_id.isdigit() or wire_id.startswith("0"):
        raise ProtocolError(f"screen id {wire_id!r} is not one this server issued")
    return int(wire_id)


def group_wire_id(group_id: int) -> str:
    """The broker group (and alert topic) of a screen group."""
    return f"g{group_id}"


def single_screen_group(screen_id: int) -> str:
    """Every screen is alone in a group of its own, so an alert can target one screen without a new topic."""
    return f"s{screen_id}"


def screen_alert_groups(screen_id: int, group_ids: Iterable[int]) -> list[str]:
    """The alert groups a screen's broker account belongs to: its own plus one per screen group."""
    return sorted({single_screen_group(screen_id), *(group_wire_id(g) for g in group_ids)})
