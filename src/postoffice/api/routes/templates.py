"""/v1/templates: a tenant's message templates (Jinja2: subject, text, HTML). Read scope to
list and read, admin to change; a template is checked when stored."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from postoffice.api.auth import Admin, Reader
from postoffice.api.context import ApiContext
from postoffice.api.errors import ApiError
from postoffice.api.templating import RenderError, check
from postoffice.storage.interfaces import NotFound, Store
from postoffice.storage.templates import Template

router = APIRouter(prefix="/v1/templates", tags=["templates"])
NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
TemplateName = Path(pattern=NAME, max_length=100)


class TemplateIn(BaseModel):
    subject: str = Field("", max_length=10_000)
    text: str | None = None
    html: str | None = None


class TemplateOut(TemplateIn):
    name: str
    created_at: float
    updated_at: float


def _out(template: Template) -> TemplateOut:
    return TemplateOut(name=template.name, subject=template.subject, text=template.text,
                       html=template.html, created_at=template.created_at,
                       updated_at=template.updated_at)


@router.get("", response_model=list[TemplateOut], summary="List the templates")
async def list_templates(caller: Reader, request: Request) -> list[TemplateOut]:
    context: ApiContext = request.app.state.context
    found: list[Template] = await context.run(_list, caller.tenant)
    return [_out(t) for t in found]


@router.get("/{name}", response_model=TemplateOut, summary="One template")
async def get_template(caller: Reader, request: Request,
                       name: str = TemplateName) -> TemplateOut:
    context: ApiContext = request.app.state.context
    found: Template | None = await context.run(_get, caller.tenant, name)
    if found is None:
        raise ApiError(404, f"no template {name}")
    return _out(found)


@router.put("/{name}", response_model=TemplateOut, summary="Create or replace a template")
async def put_template(body: TemplateIn, caller: Admin, request: Request,
                       name: str = TemplateName) -> TemplateOut:
    context: ApiContext = request.app.state.context
    if body.text is None and body.html is None:
        raise ApiError(422, "text or html is needed", field="text")
    try:
        check(body.subject, body.text, body.html)
    except RenderError as error:
        raise ApiError(422, str(error), field=error.field) from None
    stored: Template = await context.run(_put, caller.tenant, name, body)
    return _out(stored)


@router.delete("/{name}", status_code=204, response_class=Response,
               summary="Remove a template")
async def delete_template(caller: Admin, request: Request,
                          name: str = TemplateName) -> Response:
    context: ApiContext = request.app.state.context
    try:
        await context.run(_delete, caller.tenant, name)
    except NotFound:
        raise ApiError(404, f"no template {name}") from None
    return Response(status_code=204)


def _list(store: Store, tenant: str) -> list[Template]:
    return store.list_templates(tenant)


def _get(store: Store, tenant: str, name: str) -> Template | None:
    return store.get_template(tenant, name)


def _put(store: Store, tenant: str, name: str, body: TemplateIn) -> Template:
    return store.put_template(tenant, name, subject=body.subject, text=body.text,
                              html=body.html)


def _delete(store: Store, tenant: str, name: str) -> None:
    store.delete_template(tenant, name)
