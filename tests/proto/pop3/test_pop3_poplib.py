"""Python's poplib, a real client, talks to the core over a socketpair."""

import poplib
import socket
import threading

from pop3_driver import MESSAGES, Driver


def serve(sock: socket.socket, driver: Driver) -> None:
    with sock:
        sent = 0
        while True:
            sock.sendall(bytes(driver.out[sent:]))
            sent = len(driver.out)
            if driver.conn.state.value == "closed":
                return
            data = sock.recv(4096)
            if not data:
                return
            driver.feed(data)


class SocketPOP3(poplib.POP3):
    def __init__(self, sock: socket.socket) -> None:  # no connect: the socket is given
        self._tls_established = False
        self._debugging = 0
        self.sock = sock
        self.file = sock.makefile("rb")
        self.welcome = self._getresp()


def test_poplib_session() -> None:
    client_sock, server_sock = socket.socketpair()
    driver = Driver()
    thread = threading.Thread(target=serve, args=(server_sock, driver))
    thread.start()
    try:
        pop = SocketPOP3(client_sock)
        assert pop.getwelcome() == b"+OK ready"
        assert "TOP" in pop.capa() and "USER" in pop.capa()
        pop.user("alice")
        pop.pass_("s3cret pw")
        assert pop.stat() == (3, sum(len(m) for m in MESSAGES.values()))
        assert pop.uidl()[1] == [b"1 u1", b"2 u2", b"3 u3"]
        _, lines, _ = pop.retr(1)
        assert b"\r\n".join(lines) + b"\r\n" == MESSAGES["u1"]  # poplib un-stuffs the dots
        assert pop.top(2, 1)[1] == [b"Subject: two", b"From: a@example.org", b"", b"line 1"]
        pop.dele(2)
        assert [line.split()[0] for line in pop.list()[1]] == [b"1", b"3"]
        assert pop.quit().startswith(b"+OK")
    finally:
        client_sock.close()
        thread.join(timeout=5)
    assert driver.expunged == ["u2"]
