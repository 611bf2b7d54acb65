"""A real MCP client (the PyPI `mcp` package's stdio client) against
`leann mcp`: run by tests/mcp.rs as `python mcp_client.py LEANN INDEX TREE`.
Prints one JSON object with what it saw; the Rust test asserts on it."""

import asyncio
import json
import pathlib
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main(leann, index, tree):
    out = {}
    params = StdioServerParameters(command=leann, args=["mcp", "--index", index])
    async with stdio_client(params) as (r, w):
        async with ClientSession(r, w) as s:
            init = await s.initialize()
            out["server"] = init.server_info.name
            tools = await s.list_tools()
            out["tools"] = sorted(t.name for t in tools.tools)
            out["search_schema"] = sorted(
                next(t for t in tools.tools if t.name == "search").input_schema["properties"]
            )
            res = await s.call_tool(
                "search", {"query": "check the signature of a bearer token", "top_k": 2}
            )
            out["search"] = {"is_error": res.is_error, "content": res.structured_content}
            res = await s.call_tool(
                "search",
                {"query": "retry after failures", "languages": ["python"], "paths": ["scripts"]},
            )
            out["filtered"] = {"is_error": res.is_error, "content": res.structured_content}
            res = await s.call_tool("search", {"query": "pool", "top_k": 0})
            out["bad"] = {"is_error": res.is_error, "text": res.content[0].text}
            res = await s.call_tool("status", {})
            out["status"] = {"is_error": res.is_error, "content": res.structured_content}
            # An edit, then `update`, then the new function is found.
            p = pathlib.Path(tree) / "src" / "zoo.rs"
            p.write_text("/// Feed the okapi at the zoo.\npub fn feed_okapi() {}\n")
            res = await s.call_tool("update", {})
            out["update"] = {"is_error": res.is_error, "content": res.structured_content}
            res = await s.call_tool("search", {"query": "feed the okapi", "top_k": 1})
            out["after_update"] = {"is_error": res.is_error, "content": res.structured_content}
    print(json.dumps(out))


asyncio.run(main(*sys.argv[1:4]))
