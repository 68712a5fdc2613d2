"""Calibration server: the chat rooms on Tornado's WebSocketHandler, as its docs teach."""

import asyncio
import sys

import tornado.web
import tornado.websocket

from chat import handle, rooms


class IndexHandler(tornado.web.RequestHandler):
    def get(self):
        self.write("chat rooms: connect to /chat/general or /chat/random\n")


class ChatHandler(tornado.websocket.WebSocketHandler):
    def open(self, name):
        self.room = rooms.get(name)
        if self.room is None:
            self.close(4004, "no such room")
            return
        self.room.clients.add(self)

    def on_message(self, message):
        if self.ws_connection is None:
            # We closed it (unknown room, binary): Tornado still hands over what was on its way.
            return
        if isinstance(message, bytes):
            self.close(1003, "text only")
            return
        reply, said = handle(self.room, message)
        self.write_message(reply)
        if said is not None:
            for peer in list(self.room.clients - {self}):
                try:
                    peer.write_message(said)
                except tornado.websocket.WebSocketClosedError:
                    pass

    def on_close(self):
        if getattr(self, "room", None) is not None:
            self.room.clients.discard(self)


async def main():
    app = tornado.web.Application(
        [(r"/", IndexHandler), (r"/chat/([^/]+)", ChatHandler)],
        websocket_max_message_size=65536,
    )
    app.listen(int(sys.argv[1]), address="127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
