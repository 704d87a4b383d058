from pathlib import Path

import pytest

from postoffice import config as cfg
from postoffice.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "postoffice.toml").write_text(text)
    return tmp_path


def test_rendered_file_loads_back_with_defaults(tmp_path: Path) -> None:
    write(tmp_path, cfg.render("mx.example.test", cfg.DEV_LISTENERS))
    config = cfg.load(tmp_path, environ={})
    assert config.server.hostname == "mx.example.test"
    assert config.listener_addresses()["smtp"] == ("127.0.0.1", 2525)
    assert config.listener_addresses()["submissions"] == ("127.0.0.1", 2465)
    assert config.smtp == cfg.SmtpSettings()


def test_unknown_section_and_key_are_errors(tmp_path: Path) -> None:
    write(tmp_path, "[nope]\nx = 1\n")
    with pytest.raises(ConfigError, match=r"unknown section \[nope\]"):
        cfg.load(tmp_path, environ={})
    write(tmp_path, "[smtp]\nmax_recipents = 5\n")
    with pytest.raises(ConfigError, match="max_recipents"):
        cfg.load(tmp_path, environ={})


def test_type_errors_name_the_key(tmp_path: Path) -> None:
    write(tmp_path, '[smtp]\nmax_recipients = "many"\n')
    with pytest.raises(ConfigError, match="max_recipients: expected int"):
        cfg.load(tmp_path, environ={})
    write(tmp_path, '[smtp]\nbare_newline = "ignore"\n')
    with pytest.raises(ConfigError, match="bare_newline"):
        cfg.load(tmp_path, environ={})
    write(tmp_path, '[listeners]\nsmtp = "localhost"\n')
    with pytest.raises(ConfigError, match="listeners.smtp"):
        cfg.load(tmp_path, environ={})


def test_environment_overrides(tmp_path: Path) -> None:
    write(tmp_path, "[smtp]\nmax_recipients = 5\n")
    config = cfg.load(tmp_path, environ={"POSTOFFICE_SMTP__MAX_RECIPIENTS": "7",
                                         "POSTOFFICE_SMTP__VRFY": "true",
                                         "POSTOFFICE_DATA": "/elsewhere"})
    assert config.smtp.max_recipients == 7
    assert config.smtp.vrfy is True
    with pytest.raises(ConfigError, match="POSTOFFICE_SMTP__MAX_RECIPIENTS"):
        cfg.load(tmp_path, environ={"POSTOFFICE_SMTP__MAX_RECIPIENTS": "x"})
    with pytest.raises(ConfigError, match="unknown setting"):
        cfg.load(tmp_path, environ={"POSTOFFICE_SMTP__NOPE": "1"})


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="postoffice init"):
        cfg.load(tmp_path, environ={})


def test_empty_listener_disables_it(tmp_path: Path) -> None:
    write(tmp_path, '[listeners]\nhttp = ""\n')
    assert "http" not in cfg.load(tmp_path, environ={}).listener_addresses()


def test_delivery_dns_relay_and_pools(tmp_path: Path) -> None:
    write(tmp_path, """
[delivery]
smarthost = "127.0.0.1:2526"
smarthost_auth = "user:secret"
[dns]
nameservers = ["127.0.0.1:5353"]
[relay]
trusted_networks = ["127.0.0.0/8", "::1/128"]
[pools.shared]
addresses = ["127.0.0.2", { address = "127.0.0.3", ehlo = "out3.example.test", weight = 3 }]
domains = ["example.test"]
""")
    config = cfg.load(tmp_path, environ={})
    assert config.delivery.smarthost == "127.0.0.1:2526"
    assert config.dns.nameservers == ("127.0.0.1:5353",)
    assert config.relay.trusted_networks == ("127.0.0.0/8", "::1/128")
    pool = config.pools["shared"]
    assert pool.addresses == (cfg.PoolAddress("127.0.0.2"), cfg.PoolAddress("127.0.0.3", "out3.example.test", 3))
    assert pool.domains == ("example.test",)


@pytest.mark.parametrize("text, message", [
    ('[delivery]\ntls_policy = "maybe"\n', "tls_policy"),
    ('[delivery]\nsmarthost_auth = "nocolon"\n', "smarthost_auth"),
    ("[delivery]\nprocesses = -1\n", "processes"),
    ("[server]\nrender_processes = -1\n", "render_processes"),
    ("[webhooks]\nkeep_deliveries = 60\n", "keep_deliveries"),
    ("[server]\nrender_processes = 65\n", "render_processes"),
    ('[relay]\ntrusted_networks = ["not-a-net"]\n', "trusted_networks"),
    ('[relay]\ntrusted_networks = "127.0.0.0/8"\n', "expected a list"),
    ("[pools.p]\naddresses = []\n", "at least one address"),
    ('[pools.p]\naddresses = ["nope"]\n', "not an IP address"),
    ('[pools.p]\naddresses = [{ address = "127.0.0.2", colour = "red" }]\n', "colour"),
])
def test_bad_delivery_settings_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path, text)
    with pytest.raises(ConfigError, match=message):
        cfg.load(tmp_path, environ={})


def test_rendered_file_with_new_sections_loads(tmp_path: Path) -> None:
    write(tmp_path, cfg.render("mx.example.test", cfg.DEV_LISTENERS))
    config = cfg.load(tmp_path, environ={})
    assert config.delivery == cfg.DeliverySettings() and config.pools == {}


def test_tls_policy_table(tmp_path: Path) -> None:
    write(tmp_path, '[tls_policy]\n"Bank.Example" = "verify"\n"old.example" = "none"\n')
    assert cfg.load(tmp_path, environ={}).tls_policy == {"bank.example": "verify", "old.example": "none"}
    write(tmp_path, '[tls_policy]\n"x.example" = "always"\n')
    with pytest.raises(ConfigError, match=r"\[tls_policy\] x.example"):
        cfg.load(tmp_path, environ={})


def test_throttle_lanes_and_pool_limits(tmp_path: Path) -> None:
    write(tmp_path, """
[throttle]
reserve = 0.2
providers = false
[throttle.default]
max_connections = 4
per_hour = 0
[throttle.sites."Gmail.com"]
per_minute = 50
[throttle.backoff]
pause = 30
[lanes]
weights = { transactional = 20 }
[pools.shared]
addresses = ["127.0.0.2"]
[pools.shared.limits.google]
max_connections = 2
[pools.shared.limits.default]
messages_per_connection = 10
""")
    config = cfg.load(tmp_path, environ={"POSTOFFICE_THROTTLE__RESERVE": "0.3"})
    t = config.throttle
    assert (t.reserve, t.providers) == (0.3, False)
    assert t.default == cfg.LimitSettings(max_connections=4, per_hour=0)
    assert t.sites == {"Gmail.com": cfg.LimitSettings(per_minute=50)}
    assert t.backoff == cfg.BackoffSettings(pause=30.0)
    assert config.lanes.weights == {"transactional": 20}
    assert config.pools["shared"].limits == {
        "google": cfg.LimitSettings(max_connections=2),
        "default": cfg.LimitSettings(messages_per_connection=10),
    }


def test_smarthost_tables(tmp_path: Path) -> None:
    write(tmp_path, """
[smarthosts.acme]
host = "relay.acme.example:587"
auth = "acme:secret"
tls = "required"
tenants = ["acme"]
[smarthosts.brand]
host = "[2001:db8::1]:25"
domains = ["brand.example"]
""")
    hosts = cfg.load(tmp_path, environ={}).smarthosts
    assert hosts["acme"] == cfg.SmarthostSettings("relay.acme.example:587", "acme:secret",
                                                  "required", (), ("acme",))
    assert hosts["brand"].tls == "opportunistic" and hosts["brand"].domains == ("brand.example",)


@pytest.mark.parametrize("text, message", [
    ("[throttle]\nreserve = 1.0\n", r"\[throttle\] reserve"),
    ('[throttle]\nproviders = "yes"\n', r"\[throttle\] providers: expected bool"),
    ("[throttle]\ndefault = 5\n", r"\[throttle\] default: expected a table"),
    ("[throttle.default]\nmax_connections = 0\n", r"\[throttle.default\] max_connections: must be >= 1"),
    ("[throttle.default]\nper_minute = -1\n", r"\[throttle.default\] per_minute"),
    ("[throttle.default]\nconnections = 3\n", r"\[throttle.default\] unknown setting 'connections'"),
    ('[throttle.sites."gmail.com"]\nper_hour = "lots"\n',
     r'\[throttle.sites."gmail.com"\] per_hour: expected int'),
    ("[throttle.backoff]\npause = 60\nmax_pause = 10\n", r"\[throttle.backoff\] max_pause"),
    ('[pools.p]\naddresses = ["127.0.0.2"]\n[pools.p.limits.google]\nmessages_per_connection = 0\n',
     r"\[pools.p.limits.google\] messages_per_connection"),
    ("[lanes]\nweights = { urgent = 5 }\n", r"\[lanes\] weights: unknown lane 'urgent'"),
    ("[lanes]\nweights = { bulk = 0 }\n", r"\[lanes\] weights.bulk: must be >= 1"),
    ('[lanes]\nweights = { bulk = "1" }\n', r"\[lanes\] weights.bulk: expected int"),
    ('[smarthosts.a]\ntenants = ["acme"]\n', r"\[smarthosts.a\] host: required"),
    ('[smarthosts.a]\nhost = "relay.example"\ntenants = ["acme"]\n', r"\[smarthosts.a\] host: expected"),
    ('[smarthosts.a]\nhost = "relay.example:25"\n', r"\[smarthosts.a\] domains, tenants"),
    ('[smarthosts.a]\nhost = "r.example:25"\nauth = "x"\ntenants = ["t"]\n', r"\[smarthosts.a\] auth"),
    ('[smarthosts.a]\nhost = "r.example:25"\ntls = "yes"\ntenants = ["t"]\n', r"\[smarthosts.a\] tls"),
    ('[smarthosts.a]\nhost = "r.example:25"\nauth = "u:p"\ntls = "none"\ntenants = ["t"]\n',
     r"\[smarthosts.a\] auth: needs TLS"),
    ('[smarthosts.a]\nhost = "r.example:25"\nport = 25\ntenants = ["t"]\n', r"\[smarthosts.a\] unknown setting 'port'"),
    ('[smarthosts]\nhost = "r.example:25"\n', r"\[smarthosts.host\] must be a table"),
    ('[smarthosts.a]\nhost = "a.example:25"\ndomains = ["X.example"]\n'
     '[smarthosts.b]\nhost = "b.example:25"\ndomains = ["x.example."]\n',
     r"\[smarthosts.b\] domains: 'x.example' is already relayed by \[smarthosts.a\]"),
    ('[smarthosts.a]\nhost = "a.example:25"\ntenants = ["acme"]\n'
     '[smarthosts.b]\nhost = "b.example:25"\ntenants = ["acme"]\n',
     r"\[smarthosts.b\] tenants: 'acme' is already relayed by \[smarthosts.a\]"),
])
def test_bad_policy_tables_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path, text)
    with pytest.raises(ConfigError, match=message):
        cfg.load(tmp_path, environ={})


def test_tables_cannot_come_from_the_environment(tmp_path: Path) -> None:
    write(tmp_path, "")
    with pytest.raises(ConfigError, match="POSTOFFICE_THROTTLE__DEFAULT: default is a list or table"):
        cfg.load(tmp_path, environ={"POSTOFFICE_THROTTLE__DEFAULT": "5"})


def test_rendered_examples_load_when_uncommented(tmp_path: Path) -> None:
    text = cfg.render("mx.example.test", cfg.DEV_LISTENERS)
    start = text.index("# Destination limits")
    examples = "\n".join(line[2:] if line.startswith("# ") and not line.startswith("# Destination")
                         and not line.startswith("# omitted") and not line.startswith("# Smarthosts")
                         else line for line in text[start:].splitlines())
    write(tmp_path, text[:start] + '[pools.shared]\naddresses = ["192.0.2.10"]\n' + examples)
    config = cfg.load(tmp_path, environ={})
    assert config.throttle.default == cfg.LimitSettings(5, 25, 120, 3600)
    assert config.throttle.sites == {"google": cfg.LimitSettings(max_connections=20)}
    assert config.pools["shared"].limits == {"google": cfg.LimitSettings(per_minute=600)}
    assert config.smarthosts["acme"].domains == ("acme.example",)
    assert config.lanes == cfg.LaneSettings() and config.throttle.reserve == 0.1
