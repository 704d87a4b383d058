"""Priority lanes: which outbound queue a message waits in.

Outbound queues are keyed by (tenant, lane, destination). A lane says how urgent mail is, not
where it goes: `transactional` (password resets, receipts, sign-in codes: someone is waiting)
and `bulk` (newsletters, campaigns, digests: nobody is waiting). The scheduler
(`policy.fairness`) serves lanes by weight, so a bulk backlog never delays a transactional
message, and the throttle (`policy.throttle`) keeps a share of every destination's limits for
priority lanes. More lanes can be added later: a lane is a plain string and every table that
knows lanes (`LaneConfig.lanes`, the fairness weights) is configuration.

`choose_lane` decides, first rule that applies wins:

1. **Submission metadata** (`metadata["lane"]`, set by the HTTP API's `lane` field or a
   submission option): the sender said so explicitly. An unknown value is an error
   (`ValueError`), because a typo in an API call should be reported, not guessed around.
2. **The lane header** (`X-Postoffice-Lane: bulk`, name configurable). Header text comes from
   message content, so an unknown value is ignored and the next rules apply. The pipeline should
   remove this header before signing (`is_lane_header`).
3. **The sender's category** (`sender_category`, e.g. the category configured for a sending
   address or API key), when `LaneConfig.categories` maps it to a lane. This is an operator's
   explicit statement about the sender, so it outranks the content heuristics below.
4. **Bulk markers in the header section**: `Precedence: bulk`, `list` or `junk` (RFC 3834
   2), or any `List-Unsubscribe` field (RFC 2369/8058; mailbox providers require it of bulk
   senders, so its presence says "this is bulk").
5. Otherwise **transactional**: mail is urgent unless something says it is not.

Names are compared case-insensitively; values are trimmed and lower-cased.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


class Lane(enum.StrEnum):
    """The built-in lanes. Lanes are strings, so configuration may add more."""

    TRANSACTIONAL = "transactional"
    """Someone is waiting for this message: served first, never behind a bulk backlog."""
    BULK = "bulk"
    """Newsletters, campaigns, notifications in batches: slowed under load, never starved."""


BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
"""`Precedence` values that mark mail as bulk (RFC 3834 2: "bulk", "list", "junk")."""


def _default_categories() -> Mapping[str, str]:
    return {
        "marketing": Lane.BULK,
        "newsletter": Lane.BULK,
        "campaign": Lane.BULK,
        "bulk": Lane.BULK,
        "transactional": Lane.TRANSACTIONAL,
    }


@dataclass(frozen=True)
class LaneConfig:
    """How lanes are chosen (see the module docstring for the rules and their order)."""

    lanes: tuple[str, ...] = (Lane.TRANSACTIONAL, Lane.BULK)
    """The lanes that exist; the metadata value and the header must name one of them."""
    default: str = Lane.TRANSACTIONAL
    """The lane of mail no rule applies to."""
    bulk: str = Lane.BULK
    """The lane that `Precedence: bulk|list|junk` and `List-Unsubscribe` send mail to."""
    metadata_key: str = "lane"
    """Key of the explicit lane in submission metadata (the HTTP API's `lane` field)."""
    header: str = "X-Postoffice-Lane"
    """Header field whose value names the lane; "" turns the header rule off."""
    categories: Mapping[str, str] = field(default_factory=_default_categories)
    """Sender category (lower-case) -> lane."""
    bulk_markers: bool = True
    """Whether `Precedence` and `List-Unsubscribe` mark mail as bulk."""

    def __post_init__(self) -> None:
        categories = {name.strip().lower(): lane for name, lane in self.categories.items()}
        object.__setattr__(self, "categories", categories)
        for lane in (self.default, self.bulk, *self.categories.values()):
            if lane not in self.lanes:
                raise ValueError(f"unknown lane {lane!r} (lanes: {', '.join(self.lanes)})")


DEFAULT_LANE_CONFIG = LaneConfig()


def parse_lane(value: object, config: LaneConfig = DEFAULT_LANE_CONFIG) -> str | None:
    """The lane `value` names (trimmed, case-insensitive), or None if it names none."""
    if not isinstance(value, str):
        return None
    wanted = value.strip().lower()
    for lane in config.lanes:
        if lane.lower() == wanted:
            return lane
    return None


def is_lane_header(name: str, config: LaneConfig = DEFAULT_LANE_CONFIG) -> bool:
    """True for the lane header, which is for us and should not leave the building."""
    return bool(config.header) and name.strip().lower() == config.header.lower()


def choose_lane(
    headers: Sequence[tuple[str, str]],
    metadata: Mapping[str, object],
    sender_category: str | None,
    config: LaneConfig = DEFAULT_LANE_CONFIG,
) -> str:
    """The lane of one message; the rules are in the module docstring.

    `headers` are the message's header fields as (name, value) pairs (unfolded or not),
    `metadata` the submission's metadata, `sender_category` the category of the sending
    identity, if any. Raises ValueError if the metadata names a lane that does not exist.
    """
    explicit = metadata.get(config.metadata_key)
    if explicit is not None:
        lane = parse_lane(explicit, config)
        if lane is None:
            raise ValueError(
                f"unknown lane {explicit!r} (lanes: {', '.join(config.lanes)})"
            )
        return lane

    if config.header:
        for name, value in headers:
            if is_lane_header(name, config):
                lane = parse_lane(value, config)
                if lane is not None:
                    return lane

    if sender_category is not None:
        lane = config.categories.get(sender_category.strip().lower())
        if lane is not None:
            return lane

    if config.bulk_markers:
        for name, value in headers:
            key = name.strip().lower()
            if key == "list-unsubscribe":
                return config.bulk
            if key == "precedence":
                words = value.split()
                if words and words[0].lower() in BULK_PRECEDENCE:
                    return config.bulk

    return config.default
