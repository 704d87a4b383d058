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
