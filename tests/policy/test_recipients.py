import pytest

from postoffice.policy.recipients import Route, decide_recipient


def decide(address: str, *, source_route: bool = False, local_domain: bool = True,
           local_user: bool = True, may_relay: bool = False, return_path: bool = False):
    return decide_recipient(address, source_route=source_route, local_domain=local_domain,
                            local_user=local_user, may_relay=may_relay, return_path=return_path)


def test_mx_takes_existing_local_mailboxes() -> None:
    assert decide("bob@example.test").route is Route.LOCAL


def test_mx_unknown_local_user_is_550_511() -> None:
    d = decide("nobody@example.test", local_user=False)
    assert (d.route, d.code, d.status) == (Route.REFUSE, 550, "5.1.1")


@pytest.mark.parametrize("address", [
    "victim@elsewhere.example",           # plain relay attempt
    "victim%elsewhere.example@example.test",  # percent hack
    "elsewhere.example!victim@example.test",  # bang path
    '"victim@elsewhere.example"@example.test',  # quoted @
])
def test_mx_refuses_relay_forms_with_554_571(address: str) -> None:
    local_domain = address.endswith("@example.test")
    d = decide(address, local_domain=local_domain, local_user=False)
    assert (d.route, d.code, d.status) == (Route.REFUSE, 554, "5.7.1")


def test_mx_refuses_source_routes() -> None:
    d = decide("victim@elsewhere.example", source_route=True, local_domain=False, local_user=False)
    assert (d.code, d.status) == (554, "5.7.1")
    d = decide("bob@example.test", source_route=True)
    assert (d.code, d.status) == (554, "5.7.1")


def test_submission_relays_anywhere_and_delivers_local_directly() -> None:
    assert decide("x@elsewhere.example", local_domain=False, local_user=False,
                  may_relay=True).route is Route.RELAY
    assert decide("bob@example.test", may_relay=True).route is Route.LOCAL
    assert decide("ghost@example.test", local_user=False, may_relay=True).code == 550


def test_missing_domain_is_a_syntax_error() -> None:
    assert decide("postmaster", local_domain=False, local_user=False).code == 501


def test_verified_return_path_is_a_bounce_only_in_a_local_domain() -> None:
    assert decide("bounce+x@example.test", local_user=False, return_path=True).route is Route.BOUNCE
    assert decide("bounce+x@example.test", return_path=True).route is Route.LOCAL  # a real user
    d = decide("bounce+x@elsewhere.example", local_domain=False, local_user=False, return_path=True)
    assert (d.route, d.code) == (Route.REFUSE, 554)
    d = decide("bounce+x@example.test", source_route=True, local_user=False, return_path=True)
    assert (d.route, d.code) == (Route.REFUSE, 554)


def test_forward_only_for_aliases_in_a_local_domain() -> None:
    def forward(address: str, **kw: bool):
        return decide_recipient(address, source_route=kw.get("source_route", False),
                                local_domain=kw.get("local_domain", True), local_user=False,
                                may_relay=False, forward=True)
    assert forward("team@example.test").route is Route.FORWARD
    assert forward("team@elsewhere.example", local_domain=False).code == 554
    assert forward("team%x@example.test").code == 554
    assert forward("team@example.test", source_route=True).code == 554
