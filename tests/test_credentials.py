from postoffice.credentials import generate_password, hash_password, verify_password


def test_hash_verifies_only_the_right_password() -> None:
    stored = hash_password("s3cret", n=2**10)
    assert stored.startswith("$scrypt$n=1024,r=8,p=1$")
    assert "s3cret" not in stored
    assert verify_password("s3cret", stored)
    assert not verify_password("s3cret ", stored)
    assert not verify_password("", stored)


def test_salted() -> None:
    assert hash_password("x", n=2**10) != hash_password("x", n=2**10)


def test_malformed_hash_never_verifies() -> None:
    for bad in ("", "plain", "$md5$x$y$z", "$scrypt$n=zz$a$b"):
        assert not verify_password("x", bad)


def test_generated_passwords_are_long_and_distinct() -> None:
    a, b = generate_password(), generate_password()
    assert a != b and len(a) >= 20
