"""Response headers of every admin response: a Content-Security-Policy without inline
scripts or styles, and the usual hardening headers."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from admin.basemaps import Basemap


def content_security_policy(basemap: Basemap) -> str:
    tiles = " ".join(basemap.origins)
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: blob: {tiles}".rstrip(),
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "report-uri /admin/csp-report",
        )
    )


class SecurityHeaders:
    """Adds the headers to every HTTP response of the wrapped app."""

    def __init__(self, app: ASGIApp, basemap: Basemap) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", content_security_policy(basemap).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in names]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, with_headers)
