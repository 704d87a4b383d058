"""The API fuzzed with schemathesis against its own OpenAPI document: no 500s, and every
response conforms to what the document says (status codes, bodies, content types, headers).

All of schemathesis's checks run but one: `positive_data_acceptance` (a schema-valid request
must succeed) cannot hold for rules a schema does not express: a From domain the tenant does
not own is refused with 403, a message without recipients with 422."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from postoffice.api import ApiContext, create_app
from postoffice.clock import SYSTEM_CLOCK
from postoffice.config import Config
from postoffice.pipeline.directory import DirectoryCache
from postoffice.pipeline.intake import Intake
from postoffice.storage import open_store
from postoffice.storage.commit import GroupCommitter
from postoffice.testing.api import World


class Served:
    """The app over a real store, its committer's loop on a thread of its own."""

    def __init__(self, data: Path) -> None:
        self.world = World(data)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.committer = GroupCommitter(lambda: open_store(data))
        self.committer.start()
        config = Config(data_dir=data)

        def call(store, method, *args):  # type: ignore[no-untyped-def]
            return getattr(store, method)(*args)

        intake = Intake(config=config, clock=SYSTEM_CLOCK, blobs=self.committer.blobs,
                        directory=DirectoryCache(lambda m, *a: self.committer.run(call, m, *a)),
                        commit=self.committer.commit)
        self.app = create_app(ApiContext(run=self.committer.run, intake=intake,
                                         clock=SYSTEM_CLOCK, hostname="mail.example.test",
                                         mta_sts_policy="version: STSv1\r\n"))

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.committer.close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


SERVED = Served(Path(tempfile.mkdtemp(prefix="postoffice-fuzz-")) / "data")
schema = schemathesis.openapi.from_asgi("/v1/openapi.json", SERVED.app)


def teardown_module() -> None:
    SERVED.close()
    shutil.rmtree(SERVED.world.data.parent, ignore_errors=True)


@schema.auth()
class AdminKey:
    """Every request carries the default tenant's admin key."""

    def get(self, case: schemathesis.Case, context: object) -> str:
        return SERVED.world.tenants["default"].keys["admin"]

    def set(self, case: schemathesis.Case, data: str, context: object) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms(case: schemathesis.Case) -> None:
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
