"""The official MCP Python SDK against the part-5 servers.

Run by `cargo xtask interop` with the venv that has the pinned `mcp` package:

    python interop/python_client.py http://127.0.0.1:PORT/mcp

The SDK's OAuthClientProvider does everything an MCP client must: it reads the
401 challenge, discovers the protected-resource and authorization-server
metadata, registers dynamically, runs the authorization-code flow with PKCE and
`resource`, and refreshes. Only the person is scripted: the redirect handler
loads our real login page, fills its real form (hidden CSRF fields and the
session cookie included) with the demo credentials, presses Approve and reads
the code from the redirect, as a browser would hand it to a callback listener.

Prints one JSON object and exits 0 when greet, server_time and a refresh all
worked; exits 1 with the reason otherwise.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlparse

import httpx2
from mcp import ClientSession
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

USERNAME = os.environ.get("AS_DEMO_USERNAME", "demo_user")
PASSWORD = os.environ.get("AS_DEMO_PASSWORD", "demo_password")
# Nothing listens here: the redirect is read from the Location header. A
# loopback redirect URI may use any port (RFC 8252 §7.3).
REDIRECT_URI = "http://127.0.0.1:33418/callback"


class MemoryStorage:
    """Tokens and the registration, kept in memory (the SDK's TokenStorage)."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None
        self.history: list[OAuthToken] = []

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.history.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class FormParser(HTMLParser):
    """The first form of a page: its action and its named inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.buttons: list[tuple[str, str]] = []
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action = a.get("action", "")
            self._in_form = True
        elif self._in_form and tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")
        elif self._in_form and tag == "button" and a.get("name"):
            self.buttons.append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


class ScriptedPerson:
    """Logs in on the authorization server's page and approves."""

    def __init__(self) -> None:
        self.result: AuthorizationCodeResult | None = None
        self.logins = 0

    async def redirect_handler(self, authorization_url: str) -> None:
        self.logins += 1
        async with httpx2.AsyncClient(follow_redirects=False, timeout=30) as browser:
            page = await browser.get(authorization_url)
            if page.status_code != 200:
                raise RuntimeError(f"login page answered {page.status_code}: {page.text[:200]}")
            form = FormParser()
            form.feed(page.text)
            if form.action is None or ("action", "approve") not in form.buttons:
                raise RuntimeError("no login form with an Approve button")
            fields = dict(form.fields)
            fields.update(username=USERNAME, password=PASSWORD, action="approve")
            answer = await browser.post(urljoin(str(page.url), form.action), data=fields)
            location = answer.headers.get("location", "")
            if answer.status_code not in (302, 303) or not location.startswith(REDIRECT_URI):
                raise RuntimeError(f"login answered {answer.status_code} to {location!r}")
        query = parse_qs(urlparse(location).query)
        if "error" in query:
            raise RuntimeError(f"authorization failed: {query['error'][0]}")
        self.result = AuthorizationCodeResult(
            code=query["code"][0],
            state=query.get("state", [None])[0],
            iss=query.get("iss", [None])[0],
        )

    async def callback_handler(self) -> AuthorizationCodeResult:
        if self.result is None:
            raise RuntimeError("the redirect handler produced no code")
        result, self.result = self.result, None
        return result


def text_of(result) -> str:
    if result.is_error:
        raise RuntimeError(f"tool failed: {result.content}")
    return result.content[0].text


async def main(server_url: str) -> dict:
    storage = MemoryStorage()
    person = ScriptedPerson()
    provider = OAuthClientProvider(
        server_url=server_url,
        client_metadata=OAuthClientMetadata(
            client_name="mcp python sdk (interop)",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=person.redirect_handler,
        callback_handler=person.callback_handler,
    )
    report: dict = {}
    async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
        async with streamable_http_client(server_url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                report["protocol_version"] = init.protocol_version
                tools = await session.list_tools()
                report["tools"] = sorted(tool.name for tool in tools.tools)
                report["greet"] = text_of(await session.call_tool("greet", {"name": "Python"}))
                report["server_time"] = json.loads(text_of(await session.call_tool("server_time", {})))
                first = storage.tokens
                if first is None or first.refresh_token is None:
                    raise RuntimeError("no refresh token was issued")
                # Pretend the access token expired: the provider must refresh
                # (refresh_token grant) before the next request.
                provider.context.token_expiry_time = time.time() - 1
                report["server_time_after_refresh"] = json.loads(
                    text_of(await session.call_tool("server_time", {}))
                )
                second = storage.tokens
    if second is None or second.access_token == first.access_token:
        raise RuntimeError("the access token was not refreshed")
    if second.refresh_token in (None, first.refresh_token):
        raise RuntimeError("the refresh token did not rotate")
    report["logins"] = person.logins
    report["token_sets"] = len(storage.history)
    if person.logins != 1:
        raise RuntimeError(f"expected one login, saw {person.logins}")
    return report


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python_client.py MCP_URL")
    try:
        print(json.dumps(asyncio.run(main(sys.argv[1])), indent=2))
    except Exception as error:  # report any failure as one line for xtask
        while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
            error = error.exceptions[0]
        print(f"python sdk client failed: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
