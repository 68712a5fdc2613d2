"""Echo server on a published aiohttp version: python echo.py <port> [max_msg_size]

Run it with the Python of the venv that has the version under test installed (see
../README.md). Listens on 127.0.0.1:<port> until killed. Written the way aiohttp's docs
teach: a web.Application, a handler with web.WebSocketResponse(), `async for msg in ws`,
text sent back as text and binary as binary. max_msg_size stays at its default (4 MiB)
unless given; 0 takes messages of any size, a server that enforces no limit.
"""

import sys

from aiohttp import WSMsgType, web


MAX_MSG_SIZE = int(sys.argv[2]) if len(sys.argv) > 2 else 4 * 1024 * 1024


async def echo(request):
    ws = web.WebSocketResponse(max_msg_size=MAX_MSG_SIZE)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python echo.py <port> [max_msg_size]")
    app = web.Application()
    app.add_routes([web.get("/", echo), web.get("/{tail:.*}", echo)])
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
