"""Mailbox access: the IMAP (and POP3) services over the mailbox store."""
