import pytest
from hypothesis import given
from hypothesis import strategies as st

from postoffice.policy.lanes import (
    Lane,
    LaneConfig,
    choose_lane,
    is_lane_header,
    parse_lane,
)

PLAIN = [("From", "a@example.org"), ("To", "b@example.net"), ("Subject", "Your code")]


def test_default_is_transactional() -> None:
    assert choose_lane(PLAIN, {}, None, LaneConfig()) == Lane.TRANSACTIONAL
    assert choose_lane([], {}, None) == "transactional"


def test_metadata_wins_over_everything() -> None:
    headers = [*PLAIN, ("X-Postoffice-Lane", "transactional"), ("Precedence", "bulk")]
    assert choose_lane(headers, {"lane": "bulk"}, "transactional") == Lane.BULK
    bulky = [*PLAIN, ("List-Unsubscribe", "<mailto:u@example.org>")]
    assert choose_lane(bulky, {"lane": " Transactional "}, "marketing") == Lane.TRANSACTIONAL


def test_unknown_metadata_lane_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown lane 'urgent'"):
        choose_lane(PLAIN, {"lane": "urgent"}, None)
    with pytest.raises(ValueError):
        choose_lane(PLAIN, {"lane": 3}, None)


def test_metadata_none_means_not_given() -> None:
    assert choose_lane([("Precedence", "bulk")], {"lane": None}, None) == Lane.BULK


def test_lane_header_case_insensitive() -> None:
    assert choose_lane([*PLAIN, ("x-postoffice-lane", " BULK ")], {}, None) == Lane.BULK
    headers = [("X-Postoffice-Lane", "transactional"), ("List-Unsubscribe", "<https://u>")]
    assert choose_lane(headers, {}, "newsletter") == Lane.TRANSACTIONAL


def test_unknown_header_value_is_ignored() -> None:
    assert choose_lane([("X-Postoffice-Lane", "asap")], {}, None) == Lane.TRANSACTIONAL
    assert choose_lane([("X-Postoffice-Lane", "asap"), ("Precedence", "list")], {}, None) == "bulk"


def test_header_name_is_configurable_and_can_be_off() -> None:
    config = LaneConfig(header="X-Mailer-Priority")
    assert choose_lane([("X-Mailer-Priority", "bulk")], {}, None, config) == Lane.BULK
    assert choose_lane([("X-Postoffice-Lane", "bulk")], {}, None, config) == Lane.TRANSACTIONAL
    off = LaneConfig(header="")
    assert choose_lane([("X-Postoffice-Lane", "bulk")], {}, None, off) == Lane.TRANSACTIONAL
    assert not is_lane_header("X-Postoffice-Lane", off)
    assert is_lane_header("x-postoffice-lane")


@pytest.mark.parametrize("value", ["bulk", "List", "junk", "bulk (newsletter)", " BULK"])
def test_precedence_bulk_list_junk(value: str) -> None:
    assert choose_lane([*PLAIN, ("Precedence", value)], {}, None) == Lane.BULK


@pytest.mark.parametrize("value", ["first-class", "urgent", ""])
def test_other_precedence_values(value: str) -> None:
    assert choose_lane([("Precedence", value)], {}, None) == Lane.TRANSACTIONAL


def test_list_unsubscribe_means_bulk() -> None:
    headers = [*PLAIN, ("list-unsubscribe", "<https://example.org/u/1>")]
    assert choose_lane(headers, {}, None) == Lane.BULK


def test_category_mapping() -> None:
    assert choose_lane(PLAIN, {}, "Marketing") == Lane.BULK
    assert choose_lane(PLAIN, {}, "newsletter") == Lane.BULK
    assert choose_lane(PLAIN, {}, "billing") == Lane.TRANSACTIONAL
    config = LaneConfig(categories={"Digest": "bulk"})
    assert choose_lane(PLAIN, {}, "digest", config) == Lane.BULK
    assert choose_lane(PLAIN, {}, "marketing", config) == Lane.TRANSACTIONAL


def test_category_outranks_content_markers() -> None:
    headers = [*PLAIN, ("List-Unsubscribe", "<https://u>")]
    assert choose_lane(headers, {}, "transactional") == Lane.TRANSACTIONAL
    assert choose_lane(headers, {}, "unmapped") == Lane.BULK


def test_bulk_markers_can_be_off() -> None:
    config = LaneConfig(bulk_markers=False)
    assert choose_lane([("Precedence", "bulk")], {}, None, config) == Lane.TRANSACTIONAL


def test_more_lanes_by_configuration() -> None:
    config = LaneConfig(
        lanes=("transactional", "bulk", "notifications"),
        categories={"alerts": "notifications"},
        metadata_key="queue",
    )
    assert choose_lane(PLAIN, {"queue": "notifications"}, None, config) == "notifications"
    assert choose_lane([("X-Postoffice-Lane", "Notifications")], {}, None, config) == "notifications"
    assert choose_lane(PLAIN, {}, "alerts", config) == "notifications"
    assert parse_lane("NOTIFICATIONS", config) == "notifications"
    assert parse_lane("notifications") is None


def test_config_rejects_unknown_lanes() -> None:
    with pytest.raises(ValueError):
        LaneConfig(categories={"x": "fast"})
    with pytest.raises(ValueError):
        LaneConfig(default="fast")


header_lists = st.lists(
    st.tuples(
        st.sampled_from(["Subject", "Precedence", "List-Unsubscribe", "X-Postoffice-Lane", "X"]),
        st.sampled_from(["bulk", "list", "transactional", "", "hello", "<mailto:u@x>"]),
    ),
    max_size=6,
)


@given(header_lists, st.sampled_from([None, "marketing", "transactional", "other"]))
def test_always_a_known_lane_and_metadata_wins(
    headers: list[tuple[str, str]], category: str | None
) -> None:
    config = LaneConfig()
    assert choose_lane(headers, {}, category, config) in config.lanes
    for lane in config.lanes:
        assert choose_lane(headers, {"lane": lane}, category, config) == lane
