"""The replies the server core gives on its own (RFC 5321, RFC 3463 enhanced status codes)."""

from __future__ import annotations

from typing import Final

from postoffice.proto.smtp.reply import Reply

OK: Final = Reply(250, "2.0.0", "OK")
BYE: Final = Reply(221, "2.0.0", "Bye")
HELP: Final = Reply(
    214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY STARTTLS AUTH"
)
VRFY_DISABLED: Final = Reply(
    252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery"
)

# sequence errors
SEND_EHLO_FIRST: Final = Reply(503, "5.5.1", "Send EHLO first")
NESTED_MAIL: Final = Reply(503, "5.5.1", "Nested MAIL command")
NEED_MAIL: Final = Reply(503, "5.5.1", "Need MAIL command")
NEED_RCPT: Final = Reply(503, "5.5.1", "Need RCPT command")
NO_VALID_RECIPIENTS: Final = Reply(554, "5.5.1", "No valid recipients")
DATA_AFTER_BDAT: Final = Reply(503, "5.5.1", "DATA not allowed after BDAT")
RCPT_AFTER_BDAT: Final = Reply(503, "5.5.1", "RCPT not allowed after BDAT")
IN_TRANSACTION: Final = Reply(503, "5.5.1", "Not allowed during a mail transaction")
ALREADY_AUTHENTICATED: Final = Reply(503, "5.5.1", "Already authenticated")
TLS_ACTIVE: Final = Reply(503, "5.5.1", "TLS already active")

# syntax errors
UNKNOWN: Final = Reply(500, "5.5.1", "Command unrecognized")
NOT_IMPLEMENTED: Final = Reply(502, "5.5.1", "Command not implemented")
LINE_TOO_LONG: Final = Reply(500, "5.5.2", "Line too long")
TOO_MANY_ERRORS: Final = Reply(421, "4.7.0", "Too many errors")

# AUTH (RFC 4954)
AUTH_REQUIRED: Final = Reply(530, "5.7.0", "Authentication required")
ENCRYPTION_REQUIRED: Final = Reply(
    538, "5.7.11", "Encryption required for requested authentication mechanism"
)
UNKNOWN_MECHANISM: Final = Reply(504, "5.5.4", "Unrecognized authentication type")
AUTH_CANCELLED: Final = Reply(501, "5.0.0", "Authentication cancelled")
BAD_BASE64: Final = Reply(501, "5.5.2", "Invalid base64 data")
BAD_AUTH_DATA: Final = Reply(501, "5.5.2", "Malformed authentication data")
AUTH_LINE_TOO_LONG: Final = Reply(500, "5.5.6", "Authentication Exchange line is too long")

# envelope and content limits
UTF8_REQUIRED: Final = Reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8")
TOO_MANY_RECIPIENTS: Final = Reply(452, "4.5.3", "Too many recipients")
TOO_LARGE: Final = Reply(552, "5.3.4", "Message size exceeds fixed limit")
BARE_NEWLINE: Final = Reply(550, "5.6.11", "Bare CR or LF not allowed, use CRLF")
