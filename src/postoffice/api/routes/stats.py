"""/v1/stats: what became of the tenant's mail, by day, hour, category, mailbox provider,
sending domain or IP, with rates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from postoffice.api.auth import Reader
from postoffice.api.context import ApiContext
from postoffice.api.errors import ApiError
from postoffice.storage.interfaces import Store
from postoffice.storage.stats import GroupBy, StatsRow

router = APIRouter(prefix="/v1/stats", tags=["stats"])
COUNTED = ("accepted", "queued", "delivered", "deferred", "bounced", "hard_bounced",
           "soft_bounced", "complained", "unsubscribed", "opened", "clicked", "suppressed")
MAX_SPAN = 400 * 86400.0


class Counts(BaseModel):
    accepted: int = 0
    queued: int = 0
    delivered: int = 0
    deferred: int = 0
    bounced: int = Field(0, description="hard, soft and unclassified bounces")
    hard_bounced: int = 0
    soft_bounced: int = 0
    complained: int = 0
    unsubscribed: int = 0
    opened: int = 0
    clicked: int = 0
    suppressed: int = 0


class Rates(BaseModel):
    delivery: float | None = Field(None, description="delivered / (delivered + bounced)")
    bounce: float | None = Field(None, description="bounced / (delivered + bounced)")
    hard_bounce: float | None = None
    complaint: float | None = Field(None, description="complained / delivered")
    unsubscribe: float | None = Field(None, description="unsubscribed / delivered")
    open: float | None = Field(None, description="opened / delivered")
    click: float | None = Field(None, description="clicked / delivered")


class Group(BaseModel):
    key: str
    counts: Counts
    rates: Rates


class Stats(BaseModel):
    group_by: str
    since: float
    until: float
    groups: list[Group]
    totals: Group


@router.get("", response_model=Stats, summary="Counts and rates")
async def stats(caller: Reader, request: Request,
                since: Annotated[float | None, Query(ge=0, le=1e11,
                                                     description="Unix time; default 7 days ago")] = None,
                until: Annotated[float | None, Query(ge=0, le=1e11,
                                                     description="Unix time; default now")] = None,
                group_by: GroupBy = "day",
                category: Annotated[str | None, Query(max_length=100)] = None) -> Stats:
    context: ApiContext = request.app.state.context
    end = until if until is not None else context.clock.now()
    start = since if since is not None else end - 7 * 86400
    if start > end:
        raise ApiError(422, "since: after until", field="since")
    if end - start > MAX_SPAN:
        raise ApiError(422, "since: at most 400 days before until", field="since")
    rows: list[StatsRow] = await context.run(_stats, caller.tenant, start, end, group_by,
                                             category)
    groups = [_group(row.key, row.counts) for row in rows]
    total: dict[str, int] = {}
    for row in rows:
        for kind, count in row.counts.items():
            total[kind] = total.get(kind, 0) + count
    return Stats(group_by=group_by, since=start, until=end, groups=groups,
                 totals=_group("total", total))


def _stats(store: Store, tenant: str, since: float, until: float, group_by: GroupBy,
           category: str | None) -> list[StatsRow]:
    return store.stats(tenant, since=since, until=until, group_by=group_by, category=category)


def _group(key: str, raw: dict[str, int]) -> Group:
    hard, soft = raw.get("bounced_hard", 0), raw.get("bounced_soft", 0)
    counts = Counts(**{k: v for k, v in raw.items() if k in COUNTED and k != "bounced"},
                    bounced=raw.get("bounced", 0) + hard + soft, hard_bounced=hard,
                    soft_bounced=soft)
    finished = counts.delivered + counts.bounced
    delivered = counts.delivered
    return Group(key=key, counts=counts, rates=Rates(
        delivery=_rate(delivered, finished), bounce=_rate(counts.bounced, finished),
        hard_bounce=_rate(hard, finished), complaint=_rate(counts.complained, delivered),
        unsubscribe=_rate(counts.unsubscribed, delivered), open=_rate(counts.opened, delivered),
        click=_rate(counts.clicked, delivered)))


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None
