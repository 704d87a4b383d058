"""BIMI in the MX's checks: the Indicator is fetched and checked before BIMI-Location is given."""

import asyncio

from postoffice.auth import dmarc
from postoffice.auth.dns import Flow, run_sync
from postoffice.clock import SYSTEM_CLOCK
from postoffice.config import InboundSettings
from postoffice.pipeline.inbound import InboundChecks

ZONE = {
    "_dmarc.brand.example": [{"TXT": "v=DMARC1; p=reject"}],
    "default._bimi.brand.example": [{"TXT": "v=BIMI1; l=https://logo.brand.example/logo.svg"}],
}
GOOD = (b'<svg xmlns="http://www.w3.org/2000/svg" version="1.2" baseProfile="tiny-ps">'
        b"<title>Brand</title></svg>")
BAD = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def judge_bimi(logo: bytes | Exception) -> tuple[str, bytes | None]:
    async def run(flow: Flow[object]) -> object:
        return run_sync(flow, ZONE)

    async def fetch(url: str) -> bytes:
        assert url == "https://logo.brand.example/logo.svg"
        if isinstance(logo, Exception):
            raise logo
        return logo

    checks = InboundChecks(settings=InboundSettings(), authserv_id="mx.example.test", run=run,
                           clock=SYSTEM_CLOCK, fetch_logo=fetch)
    passed = run_sync(dmarc.evaluate("brand.example", dmarc.SpfCheck("none", "x.example"),
                                     [dmarc.DkimCheck("pass", "brand.example")]), ZONE)
    result = asyncio.run(checks._bimi("brand.example", passed))
    assert result is not None
    return str(result.result), result.location_field()


def test_a_good_logo_gives_a_location() -> None:
    status, location = judge_bimi(GOOD)
    assert status == "pass" and location == b"BIMI-Location: v=BIMI1; l=https://logo.brand.example/logo.svg\r\n"


def test_a_logo_failing_the_profile_or_the_fetch_gives_none() -> None:
    assert judge_bimi(BAD) == ("fail", None)
    assert judge_bimi(OSError("connection refused")) == ("fail", None)
