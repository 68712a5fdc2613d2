"""Calibration server: the chat rooms on aiohttp's web server, as its docs teach."""

import sys

from aiohttp import WSMsgType, web

from chat import handle, rooms


async def index(request):
    return web.Response(text="chat rooms: connect to /chat/general or /chat/random\n")


async def chat(request):
    room = rooms.get(request.match_info["room"])
    if room is None:
        raise web.HTTPNotFound(text="no such room\n")
    ws = web.WebSocketResponse(max_msg_size=65536)
    await ws.prepare(request)
    room.clients.add(ws)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                reply, said = handle(room, msg.data)
                await ws.send_json(reply)
                if said is not None:
                    for peer in list(room.clients - {ws}):
                        try:
                            await peer.send_json(said)
                        except ConnectionError:
                            pass
            elif msg.type == WSMsgType.BINARY:
                await ws.close(code=1003, message=b"text only")
    finally:
        room.clients.discard(ws)
    return ws


app = web.Application()
app.add_routes([web.get("/", index), web.get("/chat/{room}", chat)])

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
