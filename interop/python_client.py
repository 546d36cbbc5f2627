"""The official MCP Python SDK against the part-5 servers.

Run by `cargo xtask interop` with the venv that has the pinned `mcp` package:

    python interop/python_client.py http://127.0.0.1:PORT/mcp

The SDK's OAuthClientProvider does everything an MCP client must: it reads the
401 challenge, discovers the protected-resource and authorization-server
metadata, registers dynamically, runs the authorization-code flow with PKCE and
`resource`, and refreshes. Only the person is scripted: the redirect handler
runs `part5-scripted-browser --print-callback` (path in `SCRIPTED_BROWSER`),
which logs in on our real login page with the demo credentials, presses
Approve and prints the redirect instead of loading it; the handler reads the
code from it, as a browser would hand it to a callback listener.

Prints one JSON object and exits 0 when greet, server_time and a refresh all
worked; exits 1 with the reason otherwise.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from urllib.parse import parse_qs, urlparse

import httpx2
from mcp import ClientSession
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

SCRIPTED_BROWSER = os.environ["SCRIPTED_BROWSER"]
# Nothing listens here: the scripted browser prints the redirect instead of
# loading it. A loopback redirect URI may use any port (RFC 8252 §7.3).
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


class ScriptedPerson:
    """Logs in on the authorization server's page and approves."""

    def __init__(self) -> None:
        self.result: AuthorizationCodeResult | None = None
        self.logins = 0

    async def redirect_handler(self, authorization_url: str) -> None:
        self.logins += 1
        browser = await asyncio.create_subprocess_exec(
            SCRIPTED_BROWSER,
            "--print-callback",
            authorization_url,
            stdout=asyncio.subprocess.PIPE,
        )
        printed, _ = await asyncio.wait_for(browser.communicate(), timeout=30)
        location = printed.decode().strip()
        if browser.returncode != 0 or not location.startswith(REDIRECT_URI):
            raise RuntimeError(f"the scripted browser failed ({browser.returncode}): {location!r}")
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
