"""Calibration server: the chat rooms on Python `websockets` (asyncio API), as its docs teach."""

import asyncio
import json
import sys
from urllib.parse import urlsplit

from websockets.asyncio.server import broadcast, serve

from chat import handle, rooms


async def chat(websocket):
    path = urlsplit(websocket.request.path).path
    room = rooms.get(path.removeprefix("/chat/")) if path.startswith("/chat/") else None
    if room is None:
        await websocket.close(4004, "no such room")
        return
    room.clients.add(websocket)
    try:
        async for message in websocket:
            if isinstance(message, bytes):
                await websocket.close(1003, "text only")
                break
            reply, said = handle(room, message)
            await websocket.send(json.dumps(reply))
            if said is not None:
                broadcast(room.clients - {websocket}, json.dumps(said))
    finally:
        room.clients.discard(websocket)


async def main():
    async with serve(chat, "127.0.0.1", int(sys.argv[1]), max_size=65536) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
