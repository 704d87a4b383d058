"""The HTTP API (/v1, JSON, OpenAPI at /v1/openapi.json) and the other pages of the http
listener (health, MTA-STS policies). `create_app` builds the ASGI application."""

from postoffice.api.app import create_app
from postoffice.api.context import ApiContext

__all__ = ["ApiContext", "create_app"]
