"""The command-line contract: names, flags, JSON shapes, one-line errors."""

import json
from pathlib import Path

import pytest

from postoffice.testing.server import postoffice


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    result = postoffice("init", "--domain", "Example.TEST", "--ports", "any", data=d)
    assert "postmaster@example.test" in result.stdout and "password" in result.stdout
    return d


def test_init_writes_config_db_and_certificate(data: Path) -> None:
    assert (data / "postoffice.toml").exists()
    assert (data / "postoffice.db").exists()
    assert (data / "tls" / "cert.pem").exists()
    assert (data / "tls" / "key.pem").stat().st_mode & 0o077 == 0
    verp_key = data / "keys" / "verp.key"
    assert len(verp_key.read_bytes()) == 32
    assert verp_key.stat().st_mode & 0o777 == 0o600 and verp_key.parent.stat().st_mode & 0o777 == 0o700
    text = (data / "postoffice.toml").read_text()
    assert 'hostname = "mail.example.test"' in text and 'smtp = "127.0.0.1:0"' in text


def test_init_port_presets(tmp_path: Path) -> None:
    postoffice("init", "--ports", "standard", "--hostname", "mx.example.org", data=tmp_path / "s")
    text = (tmp_path / "s" / "postoffice.toml").read_text()
    assert 'smtp = "0.0.0.0:25"' in text and 'submission = "0.0.0.0:587"' in text
    assert 'submissions = "0.0.0.0:465"' in text and 'hostname = "mx.example.org"' in text
    postoffice("init", data=tmp_path / "d")
    assert 'smtp = "127.0.0.1:2525"' in (tmp_path / "d" / "postoffice.toml").read_text()


def test_domains(data: Path) -> None:
    postoffice("domain", "add", "Other.Example", data=data)
    listed = json.loads(postoffice("domain", "ls", "--json", data=data).stdout)
    assert [d["name"] for d in listed] == ["example.test", "other.example"]
    assert listed[0]["created_at"].endswith("Z")
    dup = postoffice("domain", "add", "other.example", data=data, check=False)
    assert dup.returncode == 1 and dup.stderr.startswith("postoffice: error:") and dup.stderr.count("\n") == 1
    bad = postoffice("domain", "add", "not a domain", data=data, check=False)
    assert bad.returncode == 1 and "invalid domain" in bad.stderr
    in_use = postoffice("domain", "rm", "example.test", data=data, check=False)
    assert in_use.returncode == 1  # postmaster lives there
    postoffice("domain", "rm", "other.example", data=data)
    assert len(json.loads(postoffice("domain", "ls", "--json", data=data).stdout)) == 1


def test_users(data: Path) -> None:
    out = postoffice("user", "add", "Bob@Example.test", data=data).stdout
    assert "bob@example.test" in out and "password (shown only now):" in out
    postoffice("user", "add", "carol@example.test", "--password-stdin", "--allow-sender", "@brand.example",
               data=data, stdin="pw\n")
    users = json.loads(postoffice("user", "ls", "--json", data=data).stdout)
    assert {u["address"] for u in users} == {"postmaster@example.test", "bob@example.test", "carol@example.test"}
    carol = next(u for u in users if u["address"] == "carol@example.test")
    assert carol["allowed_senders"] == ["@brand.example"]
    assert all("password" not in json.dumps(u) for u in users)
    unknown_domain = postoffice("user", "add", "x@nowhere.example", data=data, check=False)
    assert unknown_domain.returncode == 1 and "not a local domain" in unknown_domain.stderr
    empty = postoffice("user", "add", "d@example.test", "--password-stdin", data=data, stdin="", check=False)
    assert empty.returncode == 1 and "no password" in empty.stderr
    assert "password of bob@example.test changed" in postoffice(
        "user", "passwd", "bob@example.test", "--password-stdin", data=data, stdin="new\n").stdout
    postoffice("user", "rm", "bob@example.test", data=data)
    missing = postoffice("user", "rm", "bob@example.test", data=data, check=False)
    assert missing.returncode == 1


def test_mailbox_and_queue_on_empty_store(data: Path) -> None:
    assert json.loads(postoffice("mailbox", "ls", "postmaster@example.test", "--json", data=data).stdout) == []
    assert json.loads(postoffice("queue", "ls", "--json", data=data).stdout) == []
    none = postoffice("mailbox", "show", "postmaster@example.test", "1", data=data, check=False)
    assert none.returncode == 1 and "no message with UID 1" in none.stderr
    nobody = postoffice("mailbox", "ls", "ghost@example.test", data=data, check=False)
    assert nobody.returncode == 1 and "no mailbox" in nobody.stderr


def test_db_migrate_is_idempotent(data: Path) -> None:
    assert "up to date" in postoffice("db", "migrate", data=data).stdout


def test_missing_data_dir_is_one_line(tmp_path: Path) -> None:
    r = postoffice("domain", "ls", data=tmp_path / "nope", check=False)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "postoffice init" in r.stderr


def test_data_from_environment(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys
    monkeypatch.setenv("POSTOFFICE_DATA", str(data))
    r = subprocess.run([sys.executable, "-m", "postoffice", "domain", "ls", "--json"],
                       capture_output=True, text=True, check=True)
    assert json.loads(r.stdout)[0]["name"] == "example.test"


def _queue_mail(data: Path, recipients: list[str], lane: str = "transactional") -> None:
    import time as _time

    from postoffice.message.envelope import Recipient
    from postoffice.storage import Acceptance, StoredMessage, open_store
    from postoffice.storage.ids import new_message_id

    store = open_store(data)
    try:
        writer = store.blobs.writer()
        writer.write(b"From: app@example.test\r\nSubject: queued\r\n\r\nbody\r\n")
        pending = writer.finish()
        now = _time.time()
        message = StoredMessage(new_message_id(now), pending.digest, pending.size, now, "submission",
                                "app@example.test", "127.0.0.1", "c", "app@example.test")
        store.accept([(pending, Acceptance(message, (), tuple(Recipient(r) for r in recipients), lane))])
    finally:
        store.close()


def test_queue_operations(data: Path) -> None:
    _queue_mail(data, ["a@one.example", "b@two.example"])
    _queue_mail(data, ["c@one.example"], lane="bulk")
    items = json.loads(postoffice("queue", "ls", "--json", data=data).stdout)
    assert [(i["recipient"], i["domain"], i["lane"], i["status"]) for i in items] == [
        ("a@one.example", "one.example", "transactional", "queued"),
        ("b@two.example", "two.example", "transactional", "queued"),
        ("c@one.example", "one.example", "bulk", "queued")]
    page = json.loads(postoffice("queue", "ls", "--json", "--limit", "1", "--after", str(items[0]["id"]),
                                 data=data).stdout)
    assert [i["id"] for i in page] == [items[1]["id"]]
    assert len(json.loads(postoffice("queue", "ls", "--json", "--domain", "ONE.example", data=data).stdout)) == 2
    assert json.loads(postoffice("queue", "ls", "--json", "--older-than", "1h", data=data).stdout) == []

    shown = json.loads(postoffice("queue", "show", str(items[0]["id"]), "--json", data=data).stdout)
    assert shown["message"]["source"] == "submission" and ["Subject", "queued"] in shown["headers"]

    held = json.loads(postoffice("queue", "hold", "--lane", "bulk", "--json", data=data).stdout)
    assert held == {"action": "hold", "changed": 1}
    assert json.loads(postoffice("queue", "ls", "--json", "--status", "held", data=data).stdout)[0]["recipient"] == "c@one.example"
    assert "release: 1 item(s)" in postoffice("queue", "release", str(items[2]["id"]), data=data).stdout
    assert "retry: 3 item(s)" in postoffice("queue", "retry", "--all", data=data).stdout
    assert "bounce: 1 item(s)" in postoffice("queue", "bounce", "--domain", "two.example", data=data).stdout
    assert json.loads(postoffice("queue", "ls", "--json", "--status", "failed", data=data).stdout)[0]["recipient"] == "b@two.example"
    assert "delete: 2 item(s)" in postoffice("queue", "delete", "--domain", "one.example", data=data).stdout

    refused = postoffice("queue", "delete", data=data, check=False)
    assert refused.returncode == 1 and "--all" in refused.stderr
    bad = postoffice("queue", "ls", "--older-than", "soon", data=data, check=False)
    assert bad.returncode == 1 and "duration" in bad.stderr
    missing = postoffice("queue", "show", "424242", data=data, check=False)
    assert missing.returncode == 1 and "no queue item 424242" in missing.stderr


def test_domain_dns_lists_every_record_a_sending_domain_publishes(data: Path) -> None:
    records = json.loads(postoffice("domain", "dns", "example.test", "--json", data=data).stdout)
    by_name = {(r["type"], r["name"]): r["value"] for r in records}
    assert by_name[("TXT", "example.test")] == "v=spf1 mx ~all"
    assert by_name[("TXT", "_dmarc.example.test")].startswith("v=DMARC1; p=none; rua=mailto:postmaster@example.test")
    assert by_name[("TXT", "_smtp._tls.example.test")] == "v=TLSRPTv1; rua=mailto:postmaster@example.test"
    assert by_name[("CNAME", "mta-sts.example.test")] == "mail.example.test."
    sts_id = by_name[("TXT", "_mta-sts.example.test")]
    policy = by_name[("HTTPS", "https://mta-sts.example.test/.well-known/mta-sts.txt")]
    assert policy == "version: STSv1\r\nmode: testing\r\nmx: mail.example.test\r\nmax_age: 604800\r\n"
    # A pool for the domain puts its addresses in SPF; a new policy gets a new id.
    toml = data / "postoffice.toml"
    toml.write_text(toml.read_text().replace("mta_sts_mode = \"testing\"", "mta_sts_mode = \"enforce\"")
                    + '\n[pools.brand]\naddresses = ["192.0.2.7", "2001:db8::7"]\ndomains = ["example.test"]\n')
    after = {(r["type"], r["name"]): r["value"]
             for r in json.loads(postoffice("domain", "dns", "example.test", "--json", data=data).stdout)}
    assert after[("TXT", "example.test")] == "v=spf1 mx ip4:192.0.2.7 ip6:2001:db8::7 ~all"
    assert "mode: enforce" in after[("HTTPS", "https://mta-sts.example.test/.well-known/mta-sts.txt")]
    assert after[("TXT", "_mta-sts.example.test")] != sts_id
    assert not any(name.startswith("default._bimi.") for _, name in after)  # no logo, no BIMI
    toml.write_text(toml.read_text() + '\n[publish.bimi_logos]\n"example.test" = "https://www.example.test/logo.svg"\n')
    with_bimi = {(r["type"], r["name"]): r["value"]
                 for r in json.loads(postoffice("domain", "dns", "example.test", "--json", data=data).stdout)}
    assert with_bimi[("TXT", "default._bimi.example.test")] == "v=BIMI1; l=https://www.example.test/logo.svg;"
    toml.write_text(toml.read_text().replace("https://www.example.test/logo.svg", "http://x/logo.svg"))
    bad = postoffice("domain", "dns", "example.test", data=data, check=False)
    assert bad.returncode == 1 and "bimi_logos" in bad.stderr and bad.stderr.count("\n") == 1


def test_domain_dns_and_dkim_rotate(data: Path) -> None:
    keys = sorted((data / "dkim" / "example.test").glob("*.pem"))
    assert len(keys) == 2 and all(k.stat().st_mode & 0o077 == 0 for k in keys)
    records = json.loads(postoffice("domain", "dns", "example.test", "--json", data=data).stdout)
    assert records[0] == {"type": "MX", "name": "example.test", "value": "10 mail.example.test."}
    dkim = [r for r in records if r["name"].endswith("._domainkey.example.test")]
    assert len(dkim) == 2 and all(r["type"] == "TXT" for r in dkim)
    assert {r["value"].split("; ")[1] for r in dkim} == {"k=rsa", "k=ed25519"}
    text = postoffice("domain", "dns", "example.test", data=data).stdout
    assert "._domainkey.example.test. IN TXT" in text and "example.test. IN MX 10 mail.example.test." in text

    out = postoffice("dkim", "rotate", "example.test", data=data).stdout
    assert "new DKIM selectors" in out
    after = json.loads(postoffice("domain", "dns", "example.test", "--json", data=data).stdout)
    assert len([r for r in after if "._domainkey." in r["name"]]) == 4  # old keys stay published
    added = postoffice("domain", "add", "other.example", data=data).stdout
    assert "DKIM selectors" in added and len(list((data / "dkim" / "other.example").glob("*.pem"))) == 2
    bad = postoffice("domain", "dns", "nowhere.example", data=data, check=False)
    assert bad.returncode == 1 and "not a local domain" in bad.stderr


def test_aliases(data: Path) -> None:
    postoffice("user", "add", "bob@example.test", data=data)
    out = postoffice("alias", "add", "Team@Example.test", "bob@example.test", "Someone@Remote.Example",
                     data=data).stdout
    assert "alias team@example.test added: bob@example.test, someone@remote.example" in out
    listed = json.loads(postoffice("alias", "ls", "--json", data=data).stdout)
    assert [(a["address"], a["targets"]) for a in listed] == [
        ("team@example.test", ["bob@example.test", "someone@remote.example"])]
    assert listed[0]["created_at"].endswith("Z")
    assert "team@example.test" in postoffice("alias", "ls", data=data).stdout
    for args, message in [
        (("team@example.test", "x@remote.example"), "exists already"),
        (("bob@example.test", "x@remote.example"), "is a user"),
        (("team@nowhere.example", "x@remote.example"), "not a local domain"),
        (("self@example.test", "self@example.test"), "itself"),
        (("new@example.test", "not-an-address"), "invalid address"),
    ]:
        bad = postoffice("alias", "add", *args, data=data, check=False)
        assert bad.returncode == 1 and message in bad.stderr and bad.stderr.count("\n") == 1, bad.stderr
    postoffice("alias", "rm", "team@example.test", data=data)
    assert json.loads(postoffice("alias", "ls", "--json", data=data).stdout) == []
    gone = postoffice("alias", "rm", "team@example.test", data=data, check=False)
    assert gone.returncode == 1 and "no alias team@example.test" in gone.stderr
