"""A Prompt Manager server written the quick way, with the `websockets` library.

It works for well-behaved clients, and has the bugs hand-written handlers usually have:
unguarded json.loads, unchecked fields, unknown actions ignored. `wsfuzz fuzz` finds them.
Run: pip install websockets && python3 examples/naive_prompt_server.py [PORT]
"""

import asyncio
import datetime
import json
import sys

import websockets

PROMPTS = {"greeting": "Hello! [[signature]]", "signature": "-- The team", "summary": "[[greeting]]",
           "cycle_a": "[[cycle_b]]", "cycle_b": "[[cycle_a]]"}
CLIENTS = {}


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


async def prompt_socket(ws, prompt_id):
    if prompt_id not in PROMPTS:
        await ws.close(4004, f"Prompt '{prompt_id}' not found")
        return
    CLIENTS.setdefault(prompt_id, set()).add(ws)
    try:
        await ws.send(json.dumps({"action": "initial", "content": PROMPTS[prompt_id], "description": None,
                                  "tags": [], "is_composite": False, "updated_at": None}))
        async for raw in ws:
            data = json.loads(raw)
            if data["action"] == "update":
                PROMPTS[prompt_id] = data["content"]
                await ws.send(json.dumps({"action": "update_status", "success": True, "timestamp": now()}))
                for other in CLIENTS[prompt_id] - {ws}:
                    await other.send(json.dumps({"action": "update", "content": data["content"], "timestamp": now()}))
            elif data["action"] == "expand":
                await ws.send(json.dumps({"action": "expanded", "content": data["content"],
                                          "expanded": data["content"], "dependencies": [], "warnings": []}))
            elif data["action"] == "update_metadata":
                await ws.send(json.dumps({"action": "update_status", "success": True, "timestamp": now()}))
    finally:
        CLIENTS[prompt_id].discard(ws)


async def echo_socket(ws):
    await ws.send("WebSocket test connection successful")
    counter = 0
    async for raw in ws:
        counter += 1
        await ws.send(json.dumps({"received": raw, "counter": counter, "timestamp": now(),
                                  "message": "WebSocket echo test"}))


async def handler(ws):
    path = ws.request.path
    if path == "/api/ws/test":
        await echo_socket(ws)
    elif path.startswith("/ws/prompts/"):
        await prompt_socket(ws, path[len("/ws/prompts/"):])
    else:
        await ws.close(1008, "no such endpoint")


async def main(port):
    async with websockets.serve(handler, "127.0.0.1", port, max_size=1 << 20):
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 8082))
