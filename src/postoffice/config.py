"""Typed settings from `postoffice.toml`, overridable by `POSTOFFICE_<SECTION>__<KEY>` variables.

Every section is a frozen dataclass; unknown sections and keys are errors, so a typo in the file
is reported instead of silently ignored. Paths in the file are relative to the data directory.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from postoffice.errors import ConfigError
from postoffice.policy.lanes import Lane
from postoffice.policy.logins import PLAINTEXT_AUTH

CONFIG_FILE = "postoffice.toml"
ENV_PREFIX = "POSTOFFICE_"

DEV_LISTENERS = {
    "smtp": "127.0.0.1:2525",
    "submission": "127.0.0.1:2587",
    "submissions": "127.0.0.1:2465",
    "http": "127.0.0.1:8025",
    "imap": "127.0.0.1:2143",
    "imaps": "127.0.0.1:2993",
    "pop3": "127.0.0.1:2110",
    "pop3s": "127.0.0.1:2995",
    "managesieve": "127.0.0.1:4190",
}
STANDARD_LISTENERS = {
    "smtp": "0.0.0.0:25",
    "submission": "0.0.0.0:587",
    "submissions": "0.0.0.0:465",
    "http": "0.0.0.0:80",
    "imap": "0.0.0.0:143",
    "imaps": "0.0.0.0:993",
    "pop3": "0.0.0.0:110",
    "pop3s": "0.0.0.0:995",
    "managesieve": "0.0.0.0:4190",
}
ANY_LISTENERS = {name: "127.0.0.1:0" for name in DEV_LISTENERS}
LISTENER_PRESETS = {"dev": DEV_LISTENERS, "standard": STANDARD_LISTENERS, "any": ANY_LISTENERS}


@dataclass(frozen=True)
class ServerSettings:
    hostname: str = "localhost"
    """Name used in the SMTP banner, EHLO and Received headers."""
    workers: int = 1
    """Processes sharing the listening sockets; 0 means one per CPU."""
    render_processes: int = 1
    """Processes per worker that make the messages of API batch calls (templates and MIME)
    at a lower CPU priority, so single sends and commits go first; 0 makes them on the
    worker's event loop."""
    shutdown_grace: float = 30.0
    """Seconds in-flight transactions get to finish on SIGTERM/Ctrl-C."""


@dataclass(frozen=True)
class ListenerSettings:
    smtp: str = DEV_LISTENERS["smtp"]
    """MX: mail for local domains, never relays. "host:port"; "" disables."""
    submission: str = DEV_LISTENERS["submission"]
    """Submission with STARTTLS and AUTH (587-style)."""
    submissions: str = DEV_LISTENERS["submissions"]
    """Submission over implicit TLS (465-style)."""
    http: str = DEV_LISTENERS["http"]
    """HTTP: health and metrics now; the API and dashboard later."""
    imap: str = DEV_LISTENERS["imap"]
    """IMAP with STARTTLS (143-style); LOGINDISABLED before TLS (see [imap] plaintext_auth)."""
    imaps: str = DEV_LISTENERS["imaps"]
    """IMAP over implicit TLS (993-style)."""
    pop3: str = DEV_LISTENERS["pop3"]
    """POP3 with STLS (110-style)."""
    pop3s: str = DEV_LISTENERS["pop3s"]
    """POP3 over implicit TLS (995-style)."""
    managesieve: str = DEV_LISTENERS["managesieve"]
    """ManageSieve (RFC 5804, STARTTLS): mail clients edit their Sieve filters."""


@dataclass(frozen=True)
class TlsSettings:
    cert: str = "tls/cert.pem"
    key: str = "tls/key.pem"


@dataclass(frozen=True)
class SmtpSettings:
    max_message_size: int = 50 * 1024 * 1024
    """Octets; advertised with SIZE."""
    max_recipients: int = 1000
    max_command_line: int = 2048
    max_header_size: int = 1024 * 1024
    """Submission reads the header section into memory to check it; this bounds it."""
    max_errors: int = 10
    command_timeout: float = 300.0
    """Seconds to wait for a command (RFC 5321 4.5.3.2 asks for 5 minutes)."""
    data_timeout: float = 600.0
    """Seconds to wait for each piece of DATA/BDAT content."""
    transaction_timeout: float = 1800.0
    """Seconds one whole session may last at most."""
    max_connections: int = 2000
    max_connections_per_ip: int = 50
    bare_newline: str = "reject"
    """"reject" (550 5.6.11) or "normalize" (turn bare CR/LF into CRLF)."""
    vrfy: bool = False


@dataclass(frozen=True)
class AuthSettings:
    failure_delay: float = 1.0
    """Seconds of delay after the first failed login; doubles with each further failure."""
    failure_delay_max: float = 30.0
    failure_window: float = 900.0
    """Seconds after which an IP's or account's failure count is forgotten."""
    login_cache_ttl: float = 300.0
    """Seconds a successful password check is remembered in the worker (keyed by an HMAC
    of address, password and stored hash), so a reconnecting client skips the slow hash;
    0 disables."""


@dataclass(frozen=True)
class MailboxAccessSettings:
    plaintext_auth: str = "loopback"
    """Logins without TLS: "never", "loopback" (clients on 127.0.0.0/8 and ::1) or "always"."""
    idle_timeout: float = 1800.0
    """Seconds without a command before the server logs the client out (IMAP: at least 30 min)."""
    max_connections: int = 2000
    max_connections_per_ip: int = 50


@dataclass(frozen=True)
class ImapSettings(MailboxAccessSettings):
    max_line: int = 65536
    """Octets of one command line, literals excluded."""
    append_limit: int = 64 * 1024 * 1024
    """APPENDLIMIT: the largest message (literal) a client may send."""
    max_literal_unauthenticated: int = 8192
    """Literals before login are refused beyond this size."""
    poll_interval: float = 0.25
    """Seconds between looks for changes made by other processes (IDLE)."""


@dataclass(frozen=True)
class Pop3Settings(MailboxAccessSettings):
    idle_timeout: float = 600.0
    """RFC 1939: at least 10 minutes."""


@dataclass(frozen=True)
class SubmissionSettings:
    allow_null_sender: bool = True
    """Let authenticated users send with MAIL FROM:<> (bounces from applications)."""
    domain_senders: bool = False
    """Let every user send as any address of their own domain."""


@dataclass(frozen=True)
class DeliverySettings:
    paused: bool = False
    """Accept and queue mail but deliver nothing (maintenance); `postoffice queue` still works."""
    smarthost: str = ""
    """Relay all outbound mail to this "host:port" instead of looking up MX records."""
    smarthost_auth: str = ""
    """"user:password" for AUTH at the smarthost; empty for none."""
    smarthost_tls: str = "opportunistic"
    """TLS towards the smarthost: none, opportunistic, required or verify."""
    tls_policy: str = "opportunistic"
    """Default TLS towards MX hosts: none, opportunistic, required or verify."""
    mta_sts: bool = True
    """Look up and honour recipient domains' MTA-STS policies (RFC 8461)."""
    sandbox: bool = False
    """Capture every outbound message in a local mailbox instead of delivering it."""
    sandbox_tenants: tuple[str, ...] = ()
    """Capture these tenants' outbound mail instead of delivering it (sandbox per tenant)."""
    sandbox_unroutable: bool = False
    """Capture mail for destinations whose DNS gives no route, instead of retrying or bouncing
    it (a development machine without working DNS); `postoffice init --ports dev` turns it on."""
    sandbox_mailbox: str = ""
    """The capture mailbox (a local user); empty means postmaster@<first local domain>."""
    mx_port: int = 25
    """Port of MX hosts (25; another value only for test setups)."""
    messages_per_connection: int = 100
    max_connections: int = 200
    """Outbound SMTP connections at once, over all destinations (per delivery process)."""
    processes: int = 1
    """Delivery processes, each running a delivery engine beside the listener workers; 0 runs
    the one engine inside the first worker. Per-destination limits are shared out among them."""
    lifetime: float = 5 * 86400.0
    """Seconds after which an undeliverable message is returned to its sender."""
    delay_notice_after: float = 4 * 3600.0
    """Seconds after which a delay notice goes to senders whose NOTIFY asks for one; 0 = never."""
    verp: bool = True
    """Send with a VERP return path (bounce+<token>@<sender's domain>) naming the queue item,
    when the sender's domain is local; bounces to it are filed in `bounce_mailbox`."""
    bounce_mailbox: str = ""
    """Where bounces to VERP return paths go (a local user); empty means postmaster@<first
    local domain>."""


@dataclass(frozen=True)
class FeedbackSettings:
    """Bounces and complaints coming back, and the suppressions they make."""

    complaints_address: str = ""
    """Where feedback loops send ARF complaint reports; empty means fbl@<first local domain>.
    Mail to it that is no mailbox is filed in `[delivery] bounce_mailbox`."""
    soft_bounces_in_a_row: int = 3
    """Soft bounces to one address without a delivery between that suppress it (0: never)."""
    soft_bounce_days: float = 3.0
    """Days a suppression for soft bounces lasts (hard bounces and complaints: for good)."""


@dataclass(frozen=True)
class DnsSettings:
    nameservers: tuple[str, ...] = ()
    """Resolvers as "ip" or "ip:port" ("[ipv6]:port"); empty = the system's (/etc/resolv.conf)."""
    timeout: float = 5.0
    """Seconds per DNS query before it counts as a temporary failure."""


@dataclass(frozen=True)
class RelaySettings:
    trusted_networks: tuple[str, ...] = ()
    """Clients in these networks (CIDR) may relay through the MX listener without AUTH."""


@dataclass(frozen=True)
class InboundSettings:
    """Checks the MX runs on mail from the outside (not on submission, nor on relay clients)."""

    checks: bool = True
    """SPF, DKIM, ARC and DMARC on incoming mail, the Authentication-Results header, and the
    verdict: accept, Junk, reject, or try again later on DNS trouble."""
    skip_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    """Clients the checks are not run for (local programs); CIDR networks."""
    check_timeout: float = 20.0
    """Seconds the lookups of each check (SPF, DKIM, ARC, DMARC, ...) may take (RFC 7208 4.6.4:
    at least 20); past it that check counts as a temporary DNS failure."""
    dmarc_reject: str = "reject"
    """What DMARC p=reject does: "reject" (550 5.7.26) or "quarantine" (file in Junk)."""
    dnsbl: dict[str, float] = field(default_factory=dict)
    """DNS blocklist zones and the spam score a listing adds, e.g. {"zen.spamhaus.org" = 6.0}."""
    junk_score: float = 5.0
    """Spam score from which a message is filed in Junk."""
    reject_score: float = 15.0
    """Spam score from which a message is refused (550 5.7.1)."""
    rspamd_url: str = ""
    """An Rspamd worker to ask as well ("http://127.0.0.1:11333"); its score adds to ours."""
    greylist_domains: tuple[str, ...] = ()
    """Local domains whose mail is greylisted ("*": all): an unknown (client network, sender,
    recipient) gets 451 4.7.1 first and is accepted when it retries after greylist_delay."""
    greylist_delay: float = 300.0
    """Seconds a new triplet must wait before its retry is accepted."""
    greylist_retry_window: float = 86400.0
    """Seconds after the delay within which the retry must come (later: greylisted again)."""
    greylist_remember: float = 3110400.0
    """Seconds a triplet that passed is let through without waiting (36 days)."""
    greylist_auto_allowlist: int = 5
    """Passed triplets after which a client network is not greylisted any more; 0 = never."""


@dataclass(frozen=True)
class PublishSettings:
    """What `postoffice domain dns` tells senders' domains to publish, and what the HTTP
    listener serves for them (the MTA-STS policy)."""

    mx: tuple[str, ...] = ()
    """MX host names of the local domains; empty = [server] hostname."""
    spf: str = "~all"
    """How the SPF record ends: "~all" (softfail, the safe start) or "-all"."""
    dmarc_policy: str = "none"
    """p= of the suggested DMARC record: none (monitor first), quarantine or reject."""
    report_mailbox: str = ""
    """Where DMARC and TLS reports go (rua); empty = postmaster@<the domain>."""
    mta_sts_mode: str = "testing"
    """Mode of the MTA-STS policy served for local domains: none, testing or enforce."""
    mta_sts_max_age: int = 604800
    """max_age of the MTA-STS policy, seconds."""
    bimi_logos: dict[str, str] = field(default_factory=dict)
    """Domain -> https URL of its SVG Tiny PS logo, for its BIMI record (needs DMARC at
    enforcement: dmarc_policy quarantine or reject)."""


@dataclass(frozen=True)
class LimitSettings:
    """One row of destination limits: `[throttle.default]`, `[throttle.sites.SITE]` or
    `[pools.NAME.limits.SITE]`. An omitted key keeps the value of the row this one overrides
    (docs/delivery-policy.md); per_minute or per_hour = 0 means unlimited."""

    max_connections: int | None = None
    messages_per_connection: int | None = None
    per_minute: int | None = None
    per_hour: int | None = None


@dataclass(frozen=True)
class BackoffSettings:
    pause: float = 60.0
    """Seconds of the first pause after a "slow down" reply; doubled on each repeat."""
    max_pause: float = 3600.0
    """Longest pause."""


@dataclass(frozen=True)
class ThrottleSettings:
    """Per-destination limits of outbound delivery, `[throttle]` (docs/delivery-policy.md)."""

    reserve: float = 0.1
    """Fraction of every destination limit kept for transactional mail (0 <= reserve < 1)."""
    providers: bool = True
    """Use the built-in limits of the big mailbox providers (google, microsoft, ...)."""
    default: LimitSettings = field(default_factory=LimitSettings)
    """`[throttle.default]`: every destination without a row of its own."""
    sites: dict[str, LimitSettings] = field(default_factory=dict)
    """`[throttle.sites.SITE]`: a provider site, an MX's registrable domain or a recipient
    domain -> its row."""
    backoff: BackoffSettings = field(default_factory=BackoffSettings)


def _default_lane_weights() -> dict[str, int]:
    return {"transactional": 10, "bulk": 1}


@dataclass(frozen=True)
class LaneSettings:
    weights: dict[str, int] = field(default_factory=_default_lane_weights)
    """Share of deliveries each lane gets while several have mail waiting."""


@dataclass(frozen=True)
class PoolAddress:
    address: str
    """Local IP address outbound connections are bound to."""
    ehlo: str = ""
    """EHLO name used from this address (its reverse DNS); empty = [server] hostname."""
    weight: int = 1


@dataclass(frozen=True)
class PoolSettings:
    """An IP pool, `[pools.NAME]`: where outbound connections leave from."""

    addresses: tuple[PoolAddress, ...] = ()
    domains: tuple[str, ...] = ()
    """Sending domains assigned to this pool (dedicated pools)."""
    tenants: tuple[str, ...] = ()
    """Tenants assigned to this pool."""
    limits: dict[str, LimitSettings] = field(default_factory=dict)
    """`[pools.NAME.limits.SITE]`: this pool's destination limits, before `[throttle]`'s;
    `[pools.NAME.limits.default]` for every destination without a row."""


@dataclass(frozen=True)
class SmarthostSettings:
    """A relay for some sending domains or tenants, `[smarthosts.NAME]`."""

    host: str = ""
    """"host:port" of the relay."""
    auth: str = ""
    """"user:password" for AUTH; empty for none."""
    tls: str = "opportunistic"
    """none, opportunistic, required or verify."""
    domains: tuple[str, ...] = ()
    """Sending domains relayed here."""
    tenants: tuple[str, ...] = ()
    """Tenants relayed here (a sending domain's smarthost comes first)."""


@dataclass(frozen=True)
class WebhookSettings:
    """Webhooks (docs/api.md): POSTs of tenants' events to the URLs they subscribe."""

    enabled: bool = True
    """Send webhooks (one dispatcher, in the first delivery process); false: nothing is sent,
    and the events logged meanwhile are sent when it is turned on again."""
    concurrency: int = 20
    """Requests in flight at once."""
    timeout: float = 10.0
    """Seconds a request may take in all (connecting, sending, the answer's status)."""
    retry_for: float = 86400.0
    """Seconds after an event during which a failing delivery is tried again; then it has
    failed."""
    first_retry: float = 30.0
    """Seconds before the second attempt; the pause doubles after each failure, up to an hour."""
    keep_deliveries: float = 7 * 86400.0
    """Seconds a delivered or failed delivery stays listed, with its attempts, after its
    event; then it is purged (hourly)."""
    allow_private: bool = False
    """Let webhooks reach loopback, private, link-local and other non-public addresses. Off:
    a tenant's URL cannot reach this host's own services or the local network (SSRF);
    `postoffice init --ports dev` turns it on for local receivers."""


@dataclass(frozen=True)
class RetentionSettings:
    """The purge of old message logs, events and bodies (docs/operations.md, Retention); how
    long is each tenant's `retention_days`."""

    interval: float = 3600.0
    """Seconds between purges (in the first delivery process); 0: never (only `postoffice db
    purge`)."""
    batch: int = 5000
    """Rows deleted per transaction: other writers wait for one batch at most."""


@dataclass(frozen=True)
class UnsubscribeSettings:
    """One-click unsubscribe (docs/api.md, Unsubscribe): the List-Unsubscribe fields of bulk
    mail and where their links go."""

    host: str = ""
    """Host (and port, if not the default) of the one-click URL, served by the http listener
    behind your HTTPS proxy; "": `[server] hostname`."""
    scheme: str = "https"
    """"https" (RFC 8058 asks for it), or "http" for a development install."""
    mailto: bool = True
    """Also offer `mailto:unsubscribe+<token>@<sending domain>` (the MX takes it)."""
    every_category: bool = False
    """An unsubscribe stops all of the tenant's mail to the address, not only the category of
    the message it came from."""


@dataclass(frozen=True)
class TrackingSettings:
    """Open and click tracking (docs/api.md, Open and click tracking): where the tracking
    pixel and the rewritten links of tracked messages point."""

    host: str = ""
    """Host (and port, if not the default) of the tracking links, served by the http listener
    behind your HTTPS proxy; "": `[server] hostname`."""
    scheme: str = "https"
    """"https", or "http" for a development install."""


@dataclass(frozen=True)
class Config:
    data_dir: Path
    server: ServerSettings = field(default_factory=ServerSettings)
    listeners: ListenerSettings = field(default_factory=ListenerSettings)
    tls: TlsSettings = field(default_factory=TlsSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    submission: SubmissionSettings = field(default_factory=SubmissionSettings)
    imap: ImapSettings = field(default_factory=ImapSettings)
    pop3: Pop3Settings = field(default_factory=Pop3Settings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    feedback: FeedbackSettings = field(default_factory=FeedbackSettings)
    dns: DnsSettings = field(default_factory=DnsSettings)
    relay: RelaySettings = field(default_factory=RelaySettings)
    publish: PublishSettings = field(default_factory=PublishSettings)
    inbound: InboundSettings = field(default_factory=InboundSettings)
    throttle: ThrottleSettings = field(default_factory=ThrottleSettings)
    lanes: LaneSettings = field(default_factory=LaneSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    unsubscribe: UnsubscribeSettings = field(default_factory=UnsubscribeSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    pools: dict[str, PoolSettings] = field(default_factory=dict)
    """`[pools.NAME]` tables; without any, mail leaves from the system's default address."""
    smarthosts: dict[str, SmarthostSettings] = field(default_factory=dict)
    """`[smarthosts.NAME]` tables; `[delivery] smarthost` relays everything else."""
    tls_policy: dict[str, str] = field(default_factory=dict)
    """`[tls_policy]`: destination domain -> none/opportunistic/required/verify."""

    def path(self, relative: str) -> Path:
        """A path from the config, resolved against the data directory."""
        p = Path(relative)
        return p if p.is_absolute() else self.data_dir / p

    def listener_addresses(self) -> dict[str, tuple[str, int]]:
        """Enabled listeners as name -> (host, port)."""
        out = {}
        for f in dataclasses.fields(self.listeners):
            value = getattr(self.listeners, f.name)
            if value:
                out[f.name] = parse_hostport(value, f"listeners.{f.name}")
        return out


SECTIONS: dict[str, type] = {
    f.name: f.type if isinstance(f.type, type) else get_type_hints(Config)[f.name]
    for f in dataclasses.fields(Config)
    if f.name not in ("data_dir", "pools", "tls_policy", "smarthosts")
}
TLS_POLICIES = ("none", "opportunistic", "required", "verify")
LANES = tuple(Lane)


def parse_hostport(value: str, key: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"{key}: expected \"host:port\", got {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    number = int(port)
    if number > 65535:
        raise ConfigError(f"{key}: port out of range: {number}")
    return host, number


def load(data_dir: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read DATA_DIR/postoffice.toml and the environment overrides."""
    env = os.environ if environ is None else environ
    path = data_dir / CONFIG_FILE
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no configuration (run `postoffice init --data {data_dir}`)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    _apply_env(raw, env)
    sections: dict[str, Any] = {}
    for name, value in raw.items():
        if name == "pools":
            sections["pools"] = _build_pools(value)
            continue
        if name == "tls_policy":
            sections["tls_policy"] = _build_tls_policy(value)
            continue
        if name == "smarthosts":
            sections["smarthosts"] = _build_smarthosts(value)
            continue
        if name not in SECTIONS:
            raise ConfigError(f"{path}: unknown section [{name}]")
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: [{name}] must be a table")
        sections[name] = _build(SECTIONS[name], value, name)
    return Config(data_dir=data_dir, **sections)


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX) or "__" not in key:
            continue
        section, _, name = key[len(ENV_PREFIX) :].lower().partition("__")
        if section not in SECTIONS:
            raise ConfigError(f"{key}: unknown section {section!r}")
        raw.setdefault(section, {})[name] = _env_value(SECTIONS[section], name, value, key)


def _env_value(cls: type, name: str, value: str, key: str) -> Any:
    hints = get_type_hints(cls)
    if name not in hints:
        raise ConfigError(f"{key}: unknown setting {name!r}")
    kind = hints[name]
    if kind not in (bool, int, float, str):
        raise ConfigError(f"{key}: {name} is a list or table: set it in {CONFIG_FILE}")
    try:
        if kind is bool:
            if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("1", "true", "yes")
        if kind in (int, float):
            return kind(value)
    except ValueError:
        raise ConfigError(f"{key}: expected {kind.__name__}, got {value!r}") from None
    return value


def _build(cls: type, values: dict[str, Any], section: str) -> Any:
    hints = get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        if key not in hints:
            raise ConfigError(f"[{section}] unknown setting {key!r}")
        kwargs[key] = _typed(hints[key], value, f"[{section}] {key}")
    settings = cls(**kwargs)
    _validate(settings, section)
    return settings


def _typed(kind: Any, value: Any, where: str) -> Any:
    if get_origin(kind) is tuple:
        (item,) = {a for a in get_args(kind) if a is not Ellipsis}
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(_typed(item, v, where) for v in value)
    if get_origin(kind) is types.UnionType:  # `X | None`: TOML has no null, so an X
        (item,) = [a for a in get_args(kind) if a is not type(None)]
        return _typed(item, value, where)
    if kind is PoolAddress:
        section = where.strip("[]").split("]")[0]
        if isinstance(value, str):
            return _build(PoolAddress, {"address": value}, section)
        if isinstance(value, dict):
            return _build(PoolAddress, value, section)
        raise ConfigError(f"{where}: expected an address or {{address, ehlo, weight}}")
    if get_origin(kind) is dict or dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        if get_origin(kind) is not dict:
            return _build(kind, value, where[1:].replace("] ", ".", 1))
        item = get_args(kind)[1]
        return {name: _typed(item, v, f"{where}.{_toml_key(name)}") for name, v in value.items()}
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")
    return value


def _build_tls_policy(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise ConfigError("[tls_policy] must be a table of domain = policy")
    policies = {}
    for domain, policy in raw.items():
        if policy not in TLS_POLICIES:
            raise ConfigError(f"[tls_policy] {domain}: expected one of {', '.join(TLS_POLICIES)}")
        policies[domain.lower().rstrip(".")] = policy
    return policies


def _build_pools(raw: Any) -> dict[str, PoolSettings]:
    if not isinstance(raw, dict):
        raise ConfigError("[pools] must contain tables: [pools.NAME]")
    pools = {}
    for name, values in raw.items():
        if not isinstance(values, dict):
            raise ConfigError(f"[pools.{name}] must be a table")
        pool = _build(PoolSettings, values, f"pools.{name}")
        if not pool.addresses:
            raise ConfigError(f"[pools.{name}] addresses: at least one address is needed")
        pools[name] = pool
    return pools


def _build_smarthosts(raw: Any) -> dict[str, SmarthostSettings]:
    if not isinstance(raw, dict):
        raise ConfigError("[smarthosts] must contain tables: [smarthosts.NAME]")
    smarthosts = {}
    owners: dict[tuple[str, str], str] = {}
    for name, values in raw.items():
        if not isinstance(values, dict):
            raise ConfigError(f"[smarthosts.{name}] must be a table")
        smarthost = _build(SmarthostSettings, values, f"smarthosts.{name}")
        named = [("domains", d.lower().rstrip(".")) for d in smarthost.domains]
        named += [("tenants", t) for t in smarthost.tenants]
        for key, value in named:
            owner = owners.setdefault((key, value), name)
            if owner != name:
                raise ConfigError(f"[smarthosts.{name}] {key}: {value!r} is already relayed by "
                                  f"[smarthosts.{owner}]")
        smarthosts[name] = smarthost
    return smarthosts


def _validate(settings: Any, section: str) -> None:
    if isinstance(settings, SmtpSettings) and settings.bare_newline not in ("reject", "normalize"):
        raise ConfigError(f"[{section}] bare_newline: expected \"reject\" or \"normalize\"")
    if isinstance(settings, AuthSettings) and settings.login_cache_ttl < 0:
        raise ConfigError(f"[{section}] login_cache_ttl: must be 0 (off) or more seconds")
    if isinstance(settings, ServerSettings) and settings.workers < 0:
        raise ConfigError(f"[{section}] workers: must be 0 (one per CPU) or more")
    if isinstance(settings, ServerSettings) and not 0 <= settings.render_processes <= 64:
        raise ConfigError(f"[{section}] render_processes: must be 0 (on the event loop) to 64")
    if isinstance(settings, DeliverySettings):
        for key in ("tls_policy", "smarthost_tls"):
            if getattr(settings, key) not in TLS_POLICIES:
                raise ConfigError(f"[{section}] {key}: expected one of {', '.join(TLS_POLICIES)}")
        if settings.smarthost:
            parse_hostport(settings.smarthost, f"{section}.smarthost")
        if settings.smarthost_auth and ":" not in settings.smarthost_auth:
            raise ConfigError(f"[{section}] smarthost_auth: expected \"user:password\"")
        if settings.messages_per_connection < 1 or settings.max_connections < 1:
            raise ConfigError(f"[{section}] messages_per_connection and max_connections must be >= 1")
        if not 0 <= settings.processes <= 64:
            raise ConfigError(f"[{section}] processes: must be 0 (in the first worker) to 64")
    if isinstance(settings, FeedbackSettings) and (
            settings.soft_bounces_in_a_row < 0 or settings.soft_bounce_days <= 0):
        raise ConfigError(f"[{section}] soft_bounces_in_a_row must not be negative and"
                          " soft_bounce_days must be more than 0")
    if isinstance(settings, InboundSettings):
        if settings.junk_score > settings.reject_score:
            raise ConfigError(f"[{section}] junk_score must not be above reject_score")
        if min(settings.greylist_delay, settings.greylist_retry_window,
               settings.greylist_remember) < 0 or settings.greylist_auto_allowlist < 0:
            raise ConfigError(f"[{section}] greylist_* settings must not be negative")
        if settings.dmarc_reject not in ("reject", "quarantine"):
            raise ConfigError(f"[{section}] dmarc_reject: expected \"reject\" or \"quarantine\"")
        if settings.check_timeout <= 0:
            raise ConfigError(f"[{section}] check_timeout: must be more than 0 seconds")
        for network in settings.skip_networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ConfigError(f"[{section}] skip_networks: not a network: {network!r}") from None
    if isinstance(settings, PublishSettings):
        choices = {"spf": ("~all", "-all"), "dmarc_policy": ("none", "quarantine", "reject"),
                   "mta_sts_mode": ("none", "testing", "enforce")}
        for key, allowed in choices.items():
            if getattr(settings, key) not in allowed:
                raise ConfigError(f"[{section}] {key}: expected one of {', '.join(allowed)}")
        from postoffice.auth.bimi import BimiRecordError, bimi_record

        for domain, url in settings.bimi_logos.items():
            try:
                bimi_record(url)
            except BimiRecordError as exc:
                raise ConfigError(f"[{section}.bimi_logos] {domain}: {exc}") from None
        if not 0 <= settings.mta_sts_max_age <= 31557600:
            raise ConfigError(f"[{section}] mta_sts_max_age: 0 to 31557600 seconds")
    if isinstance(settings, RelaySettings):
        for network in settings.trusted_networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ConfigError(f"[{section}] trusted_networks: not a network: {network!r}") from None
    if isinstance(settings, LimitSettings):
        for key in ("max_connections", "messages_per_connection"):
            if getattr(settings, key) is not None and getattr(settings, key) < 1:
                raise ConfigError(f"[{section}] {key}: must be >= 1")
        for key in ("per_minute", "per_hour"):
            if getattr(settings, key) is not None and getattr(settings, key) < 0:
                raise ConfigError(f"[{section}] {key}: must be >= 1, or 0 for unlimited")
    if isinstance(settings, ThrottleSettings) and not 0.0 <= settings.reserve < 1.0:
        raise ConfigError(f"[{section}] reserve: must be at least 0 and less than 1")
    if isinstance(settings, BackoffSettings):
        if settings.pause <= 0:
            raise ConfigError(f"[{section}] pause: must be > 0")
        if settings.max_pause < settings.pause:
            raise ConfigError(f"[{section}] max_pause: must be >= pause")
    if isinstance(settings, LaneSettings):
        for lane, weight in settings.weights.items():
            if lane not in LANES:
                raise ConfigError(f"[{section}] weights: unknown lane {lane!r} (lanes: {', '.join(LANES)})")
            if weight < 1:
                raise ConfigError(f"[{section}] weights.{lane}: must be >= 1")
    if isinstance(settings, WebhookSettings):
        if not 1 <= settings.concurrency <= 1000:
            raise ConfigError(f"[{section}] concurrency: 1 to 1000")
        if settings.keep_deliveries < 3600:
            raise ConfigError(f"[{section}] keep_deliveries: at least 3600 seconds")
        if settings.timeout <= 0 or settings.retry_for < 0 or not 0 < settings.first_retry <= 3600:
            raise ConfigError(f"[{section}] timeout must be > 0, retry_for >= 0 and first_retry"
                              " more than 0 and at most 3600 seconds")
    if isinstance(settings, RetentionSettings) and (settings.interval < 0 or settings.batch < 1):
        raise ConfigError(f"[{section}] interval must not be negative and batch at least 1")
    if isinstance(settings, UnsubscribeSettings):
        if settings.scheme not in ("https", "http"):
            raise ConfigError(f"[{section}] scheme: expected \"https\" or \"http\"")
        if any(c in settings.host for c in "/?#@ "):
            raise ConfigError(f"[{section}] host: a host name (and :port), nothing else")
    if isinstance(settings, TrackingSettings):
        if settings.scheme not in ("https", "http"):
            raise ConfigError(f"[{section}] scheme: expected \"https\" or \"http\"")
        if any(c in settings.host for c in "/?#@ "):
            raise ConfigError(f"[{section}] host: a host name (and :port), nothing else")
    if isinstance(settings, SmarthostSettings):
        if not settings.host:
            raise ConfigError(f"[{section}] host: required (\"host:port\")")
        parse_hostport(settings.host, f"[{section}] host")
        if settings.auth and ":" not in settings.auth:
            raise ConfigError(f"[{section}] auth: expected \"user:password\"")
        if settings.auth and settings.tls == "none":
            raise ConfigError(f"[{section}] auth: needs TLS (the password never goes in clear)")
        if settings.tls not in TLS_POLICIES:
            raise ConfigError(f"[{section}] tls: expected one of {', '.join(TLS_POLICIES)}")
        if not settings.domains and not settings.tenants:
            raise ConfigError(f"[{section}] domains, tenants: name the sending domains or tenants "
                              "it relays ([delivery] smarthost relays everything else)")
        if not all(settings.domains) or not all(settings.tenants):
            raise ConfigError(f"[{section}] domains, tenants: empty name")
    if isinstance(settings, PoolAddress):
        try:
            ipaddress.ip_address(settings.address)
        except ValueError:
            raise ConfigError(f"[{section}] address: not an IP address: {settings.address!r}") from None
        if settings.weight < 1:
            raise ConfigError(f"[{section}] weight: must be >= 1")
    if isinstance(settings, MailboxAccessSettings):
        if settings.plaintext_auth not in PLAINTEXT_AUTH:
            raise ConfigError(f"[{section}] plaintext_auth: expected one of "
                              f"{', '.join(PLAINTEXT_AUTH)}")
        if settings.idle_timeout < (1800 if isinstance(settings, ImapSettings) else 600):
            raise ConfigError(f"[{section}] idle_timeout: the RFC asks for at least "
                              f"{1800 if isinstance(settings, ImapSettings) else 600} seconds")
    if isinstance(settings, ListenerSettings):
        for f in dataclasses.fields(settings):
            value = getattr(settings, f.name)
            if value:
                parse_hostport(value, f"listeners.{f.name}")


def render(hostname: str, listeners: Mapping[str, str], development: bool = False) -> str:
    """The postoffice.toml that `postoffice init` writes: every setting, with its default."""
    lines = [
        "# postoffice configuration. Paths are relative to this directory.",
        "# Any key can be overridden by the environment: POSTOFFICE_<SECTION>__<KEY>.",
        "",
    ]
    defaults: dict[str, Any] = {name: cls() for name, cls in SECTIONS.items()}
    defaults["server"] = dataclasses.replace(defaults["server"], hostname=hostname)
    defaults["listeners"] = ListenerSettings(**dict(listeners))
    if development:
        defaults["delivery"] = dataclasses.replace(defaults["delivery"], sandbox_unroutable=True)
        defaults["webhooks"] = dataclasses.replace(defaults["webhooks"], allow_private=True)
    for name, settings in defaults.items():
        lines.append(f"[{name}]")
        docs = _field_docs(type(settings))
        hints = get_type_hints(type(settings))
        for f in dataclasses.fields(settings):
            if _is_table(hints[f.name]):
                continue  # its own [section.key] table: an example is below
            if f.name in docs:
                lines.append(f"# {docs[f.name]}")
            value = getattr(settings, f.name)
            if isinstance(value, dict) and not value:
                # Left unset, so that either form works: key = { ... } or a [section.key] table.
                lines.append(f"# {f.name} = {{ }}   (or a [{name}.{f.name}] table)")
                continue
            lines.append(f"{f.name} = {_toml_value(value)}")
        lines.append("")
    lines += [
        "# IP pools: where outbound connections leave from (none: the system's default address).",
        "# [pools.shared]",
        '# addresses = ["192.0.2.10", { address = "192.0.2.11", ehlo = "out2.example.com", weight = 2 }]',
        '# domains = ["example.com"]   # sending domains using this pool',
        '# tenants = ["acme"]          # tenants using this pool',
        "",
        "# TLS towards particular destination domains (none, opportunistic, required, verify).",
        "# [tls_policy]",
        '# "bank.example" = "verify"',
        "",
        "# Destination limits (docs/delivery-policy.md). A row overrides the one beneath it; an",
        "# omitted key keeps that row's value; per_minute / per_hour = 0 is unlimited.",
        "# [throttle.default]            # every destination without a row (built-in values)",
        "# max_connections = 5",
        "# messages_per_connection = 25",
        "# per_minute = 120",
        "# per_hour = 3600",
        "# [throttle.sites.google]       # a provider site, an MX's registrable domain or a recipient domain",
        "# max_connections = 20",
        "# [throttle.backoff]",
        "# pause = 60.0                  # seconds of the first pause after a slow-down reply",
        "# max_pause = 3600.0",
        "# [pools.shared.limits.google]  # per IP pool, before [throttle.sites]; also .default",
        "# per_minute = 600",
        "",
        "# Smarthosts for some sending domains or tenants ([delivery] smarthost relays the rest).",
        "# [smarthosts.acme]",
        '# host = "relay.acme.example:587"',
        '# auth = "user:password"',
        '# tls = "required"',
        '# domains = ["acme.example"]',
        '# tenants = ["acme"]',
        "",
    ]
    return "\n".join(lines)


def _is_table(kind: Any) -> bool:
    """A setting written as tables of its own (`[section.key]`), not as `key = value`."""
    if get_origin(kind) is dict:
        kind = get_args(kind)[1]
    return dataclasses.is_dataclass(kind)


def _toml_key(key: str) -> str:
    bare = key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key)
    return key if bare else _toml_value(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (the string under each field), read from the source."""
    import ast
    import inspect

    try:
        tree = ast.parse(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    docs: dict[str, str] = {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for node, after in zip(body, body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs
