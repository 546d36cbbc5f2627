"""The bench's peer: the official Python MCP SDK serving the same `greet`
tool as this project's servers, stateless with plain JSON answers, on the
loopback port given as the first argument. `cargo xtask bench` runs it from
the interop tools' venv (`.cache/interop/venv`, `mcp` pinned in
`interop/versions.txt`)."""

import logging
import sys

import anyio
from mcp.server.mcpserver import MCPServer

# One access-log line per request would cost it more than the tool does;
# the Rust servers log no line per request either.
logging.getLogger("uvicorn.access").disabled = True

server = MCPServer("python-sdk-peer", log_level="WARNING")


@server.tool()
def greet(name: str, punctuation: str = "!") -> str:
    """Greet someone by name: returns "Hello, {name}{punctuation}"."""
    name = name.strip() or "there"
    return f"Hello, {name}{punctuation}"


if __name__ == "__main__":
    anyio.run(
        lambda: server.run_streamable_http_async(
            host="127.0.0.1",
            port=int(sys.argv[1]),
            stateless_http=True,
            json_response=True,
        )
    )
