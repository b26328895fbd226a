"""Home (which is the inbox, `gateway.web.inbox`) and honest placeholders for pages that are not built yet.

Pages not built yet say so plainly rather than show an empty feature that looks real.
"""

from __future__ import annotations

from aiohttp import web

from gateway.web.access import signed_in
from gateway.web.render import render_page

routes = web.RouteTableDef()

NOT_BUILT: dict[str, str] = {}


@routes.get("/")
async def home(request: web.Request) -> web.StreamResponse:
    signed_in(request)
    raise web.HTTPSeeOther("/inbox")


async def not_built(request: web.Request) -> web.StreamResponse:
    signed_in(request)
    return render_page(request, "not_built.html", title=NOT_BUILT[request.path])


for _path in NOT_BUILT:
    routes.get(_path)(not_built)
