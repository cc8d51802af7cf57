"""An MCP server that speaks one era only, built on the official MCP Python SDK (`mcp` from PyPI),
for the tests of the operator as a client and of the relays in front of such servers.

    python one_era_server.py PORT ERA

ERA is `stateless` (2026-07-28 alone) or `handshake` (the `initialize` era alone). The SDK's own
server serves both eras; in front of it, a request of the other era is refused as a server of one
era refuses it. A stateless-only server answers a request without the 2026-07-28
`MCP-Protocol-Version` header (`initialize` among them) with HTTP 400 and the JSON-RPC error
`-32022` (unsupported protocol version) naming the versions it supports; a handshake-only server
answers a request carrying that version (`server/discover` among them) with HTTP 400 and the same
error naming the handshake versions. Its tools:

- `echo` and `add`;
- `confirm`, which asks the client to confirm the action it names (elicitation: the stateless era
  asks with an `input_required` result, the handshake era with a request in the middle of the
  call) and says what the client answered;
- `write_note`, which replaces the text of the resource `memo://note` and tells subscribers that
  it and the tool list changed (the tool list does not, but a listener must hear it).
"""

import json
import sys

from typing import Annotated

import uvicorn
from pydantic import BaseModel
from mcp.server.mcpserver import Context, Elicit, MCPServer, Resolve

STATELESS_VERSIONS = ["2026-07-28"]
HANDSHAKE_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]
UNSUPPORTED_PROTOCOL_VERSION = -32022

server = MCPServer(f"{sys.argv[2] if len(sys.argv) > 2 else 'stateless'}-only")


@server.tool()
def echo(message: str) -> str:
    """Echoes the message back."""
    return f"Echo: {message}"


@server.tool()
def add(a: int, b: int) -> int:
    """Adds two numbers."""
    return a + b


class Confirmation(BaseModel):
    confirmed: bool


def ask_to_confirm(action: str) -> Elicit[Confirmation]:
    return Elicit(f"Confirm {action}?", Confirmation)


@server.tool()
def confirm(action: str, answer: Annotated[Confirmation, Resolve(ask_to_confirm)]) -> str:
    """Asks the client to confirm an action."""
    return f"{action}: {'confirmed' if answer.confirmed else 'not confirmed'}"


NOTE = {"text": "empty"}


@server.resource("memo://note")
def note() -> str:
    """A note the client may subscribe to."""
    return NOTE["text"]


@server.tool()
async def write_note(text: str, ctx: Context) -> str:
    """Replaces the note."""
    NOTE["text"] = text
    await ctx.notify_resource_updated("memo://note")
    await ctx.notify_tools_changed()
    return "written"


def refuse_other_era(app, era: str):
    """`app`, serving requests of `era` alone."""
    supported = STATELESS_VERSIONS if era == "stateless" else HANDSHAKE_VERSIONS

    async def guarded(scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await app(scope, receive, send)
        version = dict(scope["headers"]).get(b"mcp-protocol-version", b"").decode()
        stateless_request = version in STATELESS_VERSIONS
        if stateless_request == (era == "stateless"):
            return await app(scope, receive, send)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            request_id = json.loads(body).get("id")
        except (ValueError, AttributeError):
            request_id = None
        error = {
            "jsonrpc": "2.0",
            "id": request_id,
            "error": {
                "code": UNSUPPORTED_PROTOCOL_VERSION,
                "message": "Unsupported protocol version",
                "data": {"supported": supported, "requested": version or None},
            },
        }
        payload = json.dumps(error).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    return guarded


if __name__ == "__main__":
    era = sys.argv[2]
    assert era in ("stateless", "handshake"), f"ERA is stateless or handshake, not {era}"
    app = refuse_other_era(server.streamable_http_app(), era)
    config = uvicorn.Config(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
    uvicorn.Server(config).run()
