from postoffice.policy.routing import Routing, Smarthost

GLOBAL = Smarthost("", "relay.example", 25)
ACME = Smarthost("acme", "relay.acme.example", 587, "required", ("acme", "secret"))
BRAND = Smarthost("brand", "relay.brand.example", 25)


def test_sending_domain_then_tenant_then_global() -> None:
    routing = Routing({"Brand.Example.": BRAND}, {"acme": ACME}, GLOBAL)
    assert routing.smarthost_for("acme", "brand.example") is BRAND
    assert routing.smarthost_for("other", "BRAND.example") is BRAND
    assert routing.smarthost_for("acme", "acme.example") is ACME
    assert routing.smarthost_for("other", "other.example") is GLOBAL
    assert routing.smarthost_for("other", "") is GLOBAL


def test_without_a_global_smarthost_the_rest_goes_to_the_mx() -> None:
    routing = Routing({"brand.example": BRAND}, {"acme": ACME})
    assert routing.smarthost_for("other", "other.example") is None
    assert routing.smarthost_for("other", "brand.example") is BRAND
    assert Routing().smarthost_for("acme", "brand.example") is None


def test_a_tenant_is_all_relayed_only_without_mx_delivery_for_any_domain() -> None:
    routing = Routing({"brand.example": BRAND}, {"acme": ACME})
    assert routing.relays_tenant("acme")
    assert not routing.relays_tenant("other")  # brand.example mail is relayed, the rest not
    assert Routing(fallback=GLOBAL).relays_tenant("other")


def test_credentials_stay_out_of_repr() -> None:
    assert "secret" not in repr(ACME) and "relay.acme.example" in repr(ACME)
