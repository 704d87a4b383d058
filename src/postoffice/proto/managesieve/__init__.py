"""The sans-I/O ManageSieve server core (RFC 5804): scripts managed over a line protocol."""
