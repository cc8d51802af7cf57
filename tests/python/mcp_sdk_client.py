"""The official MCP Python SDK (`mcp` from PyPI) as a client of one of our MCP endpoints.

Run by the Rust tests (`agentarea_tests::mcp_servers::python_sdk_client`) with the SDK's venv:

    python mcp_sdk_client.py URL MODE PLAN

MODE is the SDK's own `Client(mode=...)`: `auto` (its default: `server/discover`, falling back to
`initialize`), `legacy` (`initialize`), or `2026-07-28` (the stateless era, adopted directly).
PLAN is JSON, every key optional: `call`, a tool and its arguments to call; `progress`, one to
call asking for progress; `elicit`, one during which the server asks for input (the client
declares elicitation, and confirms); `slow`, one slow enough to give up after a second (with
`tasks_url`, the api's `/v1/tasks`: then wait, still connected, until its Task has ended);
`refused`, one the server is to refuse. The client connects, lists the tools, makes those calls (and `call` again
after giving up the slow one: the connection serves on), calls a tool that does not exist, and
closes. It prints one JSON object of what it saw (the SDK's own warnings included, such as a
failed session termination) and exits non-zero on the first surprise.

With MCP_BEARER_TOKEN set, every request carries it as `Authorization: Bearer`.
"""

import asyncio
import json
import logging
import os
import sys

from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import ElicitResult


class Warnings(logging.Handler):
    """The SDK's warnings and errors, as it logs them."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def task_ended(http, tasks_url: str, agent: str, within: float = 30.0) -> bool:
    """Whether, within `within` seconds, no Task of `agent` is still unfinished (`/v1/tasks`)."""
    unfinished = {"pending", "running", "paused", "awaiting_approval"}
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        response = await http.get(tasks_url)
        response.raise_for_status()
        if not any(t["agent_name"] == agent and t["status"] in unfinished for t in response.json()):
            return True
        await asyncio.sleep(0.5)
    return False


def text_of(result) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


async def main(url: str, mode: str, plan: dict) -> dict:
    warnings = Warnings()
    logging.getLogger("mcp").addHandler(warnings)
    seen: dict = {"mode": mode}
    server = url
    http = None
    token = os.environ.get("MCP_BEARER_TOKEN")
    if token:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        server = streamable_http_client(url, http_client=http)
    elicited: list[str] = []

    async def confirm(context, params) -> ElicitResult:
        elicited.append(params.message)
        return ElicitResult(action="accept", content={"confirmed": True})

    # Only a plan that elicits declares elicitation: a server offers some tools only to clients
    # that do, and the other plans compare the tools with the server's own.
    asks = {"elicitation_callback": confirm} if "elicit" in plan else {}
    async with Client(server, mode=mode, **asks) as client:
        seen["protocol_version"] = client.protocol_version
        seen["server_name"] = client.server_info.name if client.server_info else None
        tools = await client.list_tools()
        seen["tools"] = sorted(tool.name for tool in tools.tools)
        seen["descriptions"] = {tool.name: tool.description for tool in tools.tools}

        if "call" in plan:
            name, arguments = plan["call"]
            seen["called"] = text_of(await client.call_tool(name, arguments))

        if "progress" in plan:
            progress: list[float] = []
            messages: list[str | None] = []

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                progress.append(value)
                messages.append(message)

            name, arguments = plan["progress"]
            seen["progressed"] = text_of(await client.call_tool(name, arguments, progress_callback=on_progress))
            seen["progress"] = progress
            seen["progress_messages"] = messages

        if "slow" in plan:
            # Given up by the client: it ends at once, and the connection serves on.
            slow_messages: list[str | None] = []

            async def on_slow_progress(value: float, total: float | None, message: str | None) -> None:
                slow_messages.append(message)

            name, arguments = plan["slow"]
            try:
                await asyncio.wait_for(
                    client.call_tool(name, arguments, progress_callback=on_slow_progress), timeout=plan.get("give_up_after", 1.0)
                )
                seen["cancelled"] = False
            except (asyncio.TimeoutError, TimeoutError):
                seen["cancelled"] = True
            seen["slow_progress_messages"] = slow_messages
            if "tasks_url" in plan:
                # The given-up call's Task is cancelled while this client is still connected: in
                # each era, the SDK's own way of giving up reaches the server.
                seen["cancelled_while_connected"] = await task_ended(http, plan["tasks_url"], name)
            if "call" in plan:
                name, arguments = plan["call"]
                seen["after_cancel"] = text_of(await client.call_tool(name, arguments))

        if "elicit" in plan:
            # The server asks for input during the call (as its era asks it: a request on the
            # call's stream, or `input_required` and the call sent again); the SDK answers.
            name, arguments = plan["elicit"]
            seen["elicit_answered"] = text_of(await client.call_tool(name, arguments))
            seen["elicitations"] = elicited

        if "refused" in plan:
            name, arguments = plan["refused"]
            try:
                await client.call_tool(name, arguments)
                seen["refused"] = "a result"
            except Exception as error:
                seen["refused"] = str(error)

        try:
            await client.call_tool("no-such-tool", {})
            seen["unknown_tool"] = "a result"
        except Exception as error:  # the SDK raises the protocol error it got
            seen["unknown_tool"] = str(error)
    seen["warnings"] = warnings.messages
    return seen


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3])))))
