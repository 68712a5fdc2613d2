"""Calibration server: the chat rooms on FastAPI (Starlette) under uvicorn, as their docs teach; CALIBRATION_FLAW=trust_json plants a handler that trusts receive_json()."""

import json
import os
import sys

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from chat import handle, rooms

TRUST_JSON = os.environ.get("CALIBRATION_FLAW") == "trust_json"

app = FastAPI()


@app.get("/")
async def index():
    return {"rooms": list(rooms)}


@app.websocket("/chat/{name}")
async def chat(websocket: WebSocket, name: str):
    room = rooms.get(name)
    if room is None:
        await websocket.close(code=4004)
        return
    await websocket.accept()
    room.clients.add(websocket)
    try:
        while True:
            if TRUST_JSON:
                # The planted bug: text that is not JSON raises here, and the handler dies.
                message = await websocket.receive_json()
                reply, said = handle(room, json.dumps(message))
            else:
                event = await websocket.receive()
                if event["type"] == "websocket.disconnect":
                    break
                if event.get("text") is None:
                    await websocket.close(code=1003)
                    break
                reply, said = handle(room, event["text"])
            await websocket.send_json(reply)
            if said is not None:
                for peer in list(room.clients - {websocket}):
                    try:
                        await peer.send_json(said)
                    except (WebSocketDisconnect, RuntimeError):
                        pass
    except WebSocketDisconnect:
        pass
    finally:
        room.clients.discard(websocket)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), ws_max_size=65536, log_level="warning")
