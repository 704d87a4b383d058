"""The sending-limit rule: hourly and daily, exactly at the limit still goes."""

from postoffice.policy import sending_limits

NOW = 1_800_000_000.0 + 1800  # half past an hour


def test_limits() -> None:
    check = sending_limits.check
    assert check(hourly=None, daily=None, used_hour=10**9, used_day=10**9, adding=5,
                 now=NOW) is None
    assert check(hourly=3, daily=None, used_hour=2, used_day=0, adding=1, now=NOW) is None
    hourly = check(hourly=3, daily=None, used_hour=2, used_day=0, adding=2, now=NOW)
    assert hourly is not None and (hourly.period, hourly.limit, hourly.used) == ("hourly", 3, 2)
    assert hourly.retry_after == 1801 and "hourly sending limit of 3" in hourly.message
    daily = check(hourly=100, daily=10, used_hour=0, used_day=10, adding=1, now=NOW)
    assert daily is not None and daily.period == "daily"
    assert 0 < daily.retry_after <= 86401
