"""/v1/suppressions: the tenant's suppression list (read to list and export, admin to change),
and the store calls the send path makes to honour it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from postoffice.api.auth import Admin, Reader
from postoffice.api.context import ApiContext
from postoffice.api.errors import ApiError, ErrorBody
from postoffice.api.models import Strict
from postoffice.policy import categories
from postoffice.storage import suppression_csv
from postoffice.storage.interfaces import NotFound, Store
from postoffice.storage.suppressions import REASONS, Suppression, SuppressionQuery, checked

router = APIRouter(prefix="/v1", tags=["suppressions"])
Reason = Literal["hard_bounce", "soft_bounce", "complaint", "unsubscribe", "manual"]
assert set(REASONS) == set(Reason.__args__)  # type: ignore[attr-defined]
CATEGORY = categories.PATTERN


class SuppressionIn(Strict):
    address: str = Field(min_length=3, max_length=320)
    reason: Reason = "manual"
    category: str = Field("", max_length=categories.MAX_LENGTH, pattern=CATEGORY,
                          description='"" (the default) suppresses every category')
    expires_at: float | None = Field(None, ge=0, le=1e11, description="Unix time; none: never")


class SuppressionOut(BaseModel):
    address: str
    reason: str
    category: str
    detail: str
    source_message: str
    source_event: int
    created_at: float
    expires_at: float | None


class SuppressionList(BaseModel):
    suppressions: list[SuppressionOut]
    next_before: int | None = Field(None, description="Pass as before= for the next page")


class ImportError_(BaseModel):
    line: int
    message: str


class ImportResult(BaseModel):
    imported: int
    errors: list[ImportError_]


def _out(s: Suppression) -> SuppressionOut:
    return SuppressionOut(address=s.address, reason=s.reason, category=s.category,
                          detail=s.detail, source_message=s.source_message,
                          source_event=s.source_event, created_at=s.created_at,
                          expires_at=s.expires_at)


@router.get("/suppressions", response_model=SuppressionList,
            summary="List the suppressed addresses")
async def list_suppressions(
        caller: Reader, request: Request,
        address: Annotated[str | None, Query(max_length=320)] = None,
        reason: Reason | None = None,
        category: Annotated[str | None, Query(max_length=categories.MAX_LENGTH, pattern=CATEGORY)] = None,
        before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> SuppressionList:
    context: ApiContext = request.app.state.context
    query = SuppressionQuery(address=address, reason=reason, category=category,
                             before_id=before, limit=limit)
    found: list[Suppression] = await context.run(_list, caller.tenant, query)
    return SuppressionList(suppressions=[_out(s) for s in found],
                           next_before=found[-1].id if len(found) == limit else None)


@router.post("/suppressions", status_code=201, response_model=SuppressionOut,
             summary="Suppress an address (replaces its suppression of the same category)")
async def add_suppression(body: SuppressionIn, caller: Admin,
                          request: Request) -> SuppressionOut:
    context: ApiContext = request.app.state.context
    if body.expires_at is not None and body.expires_at <= context.clock.now():
        raise ApiError(422, "expires_at: in the past", field="expires_at")
    try:
        item = checked(Suppression(caller.tenant, body.address, body.reason, body.category,
                                   detail="added through the API", expires_at=body.expires_at),
                       context.clock.now())
    except ValueError as error:
        raise ApiError(422, f"address: {error}", field="address") from None
    await context.run(_add, [item])
    found = await context.run(_list, caller.tenant, SuppressionQuery(
        address=item.address, category=item.category, limit=1))
    if not found:
        raise ApiError(503, "the suppression could not be stored; try again")
    return _out(found[0])  # the one in force: one for good is not replaced by one that expires


@router.delete("/suppressions/{address:path}", status_code=204, response_class=Response,
               summary="Stop suppressing an address (every category, or ?category=)")
async def remove_suppression(
        address: str, caller: Admin, request: Request,
        category: Annotated[str | None, Query(max_length=categories.MAX_LENGTH, pattern=CATEGORY)] = None,
) -> Response:
    context: ApiContext = request.app.state.context
    try:
        await context.run(_remove, caller.tenant, address, category)
    except NotFound:
        raise ApiError(404, f"{address[:320]} is not suppressed") from None
    return Response(status_code=204)


@router.get("/suppressions.csv", response_class=Response, summary="Export as CSV",
            responses={200: {"content": {"text/csv": {}}, "description": "The list"}})
async def export_csv(caller: Reader, request: Request) -> Response:
    context: ApiContext = request.app.state.context
    found = await context.run(suppression_csv.everything, caller.tenant)
    return Response(suppression_csv.render(found), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="suppressions.csv"'})


@router.post("/suppressions.csv", response_model=ImportResult,
             summary="Import CSV (address,reason,category,created_at,expires_at)",
             responses={415: {"model": ErrorBody, "description": "not text/csv"}},
             openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {}},
                                            "description": "One suppression a line"}})
async def import_csv(caller: Admin, request: Request) -> ImportResult:
    context: ApiContext = request.app.state.context
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("text/csv", "text/plain", "application/csv"):
        raise ApiError(415, "send the list as text/csv")
    try:
        text = (await request.body()).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(422, "the body is not UTF-8") from None
    items, errors = suppression_csv.parse(text, caller.tenant, context.clock.now())
    written: int = await context.run(_add, items) if items else 0
    return ImportResult(imported=written,
                        errors=[ImportError_(line=e.line, message=e.message) for e in errors])


# Store calls, on the store's thread (the send path uses the last two).

def _list(store: Store, tenant: str, query: SuppressionQuery) -> list[Suppression]:
    return store.list_suppressions(tenant, query)


def _add(store: Store, items: list[Suppression]) -> int:
    return store.add_suppressions(items)


def _remove(store: Store, tenant: str, address: str, category: str | None) -> int:
    return store.remove_suppression(tenant, address, category)


def suppressed(store: Store, tenant: str, addresses: Sequence[str],
               category: str) -> dict[str, Suppression]:
    return store.suppressed(tenant, addresses, category)
