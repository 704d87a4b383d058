"""BIMI (draft-brand-indicators-for-message-identification): records, discovery, Indicators.

::

    result = yield from evaluate(author.domain, dmarc_result, selector)   # BimiResult
    result = result.indicator_checked(check_svg(fetched_logo))            # the caller fetches
    field = result.location_field()                                       # BIMI-Location, or None
"""

from postoffice.auth.bimi.evaluate import BimiResult, BimiStatus, dmarc_at_enforcement, evaluate
from postoffice.auth.bimi.record import (
    DEFAULT_SELECTOR,
    RECEIVER_FIELDS,
    BimiRecord,
    BimiRecordError,
    bimi_record,
    is_bimi_record,
    location_field,
    parse_record,
    remove_receiver_fields,
    selector_from_field,
)
from postoffice.auth.bimi.svg import MAX_SVG_BYTES, check_svg

__all__ = [
    "DEFAULT_SELECTOR",
    "MAX_SVG_BYTES",
    "RECEIVER_FIELDS",
    "BimiRecord",
    "BimiRecordError",
    "BimiResult",
    "BimiStatus",
    "bimi_record",
    "check_svg",
    "dmarc_at_enforcement",
    "evaluate",
    "is_bimi_record",
    "location_field",
    "parse_record",
    "remove_receiver_fields",
    "selector_from_field",
]
