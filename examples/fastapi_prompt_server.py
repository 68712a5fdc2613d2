"""A Prompt Manager server on FastAPI under uvicorn, written with care: every bad input gets the error envelope.

The API is ../specs/prompt-manager.asyncapi.yaml. Used to measure wsfuzz's throughput beside a
hand-written property test (benches/throughput.rs).
Run: pip install fastapi uvicorn && python3 examples/fastapi_prompt_server.py [PORT]
"""

import datetime
import json
import re
import sys

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

MAX_MESSAGE_BYTES = 1 << 20
INCLUSION = re.compile(r"\[\[([^\[\]]+)\]\]")

PROMPTS = {
    "greeting": {"content": "Hello! [[signature]]"},
    "signature": {"content": "-- The team"},
    "summary": {"content": "[[greeting]]"},
    "cycle_a": {"content": "[[cycle_b]]"},
    "cycle_b": {"content": "[[cycle_a]]"},
}
for prompt in PROMPTS.values():
    prompt.update(description=None, tags=[], updated_at=None)
EDITORS = {name: set() for name in PROMPTS}

app = FastAPI()


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def error(kind, message):
    return {"action": "error", "error": kind, "message": message}


def expand(name, content):
    """Resolves [[inclusions]] recursively; a missing one or a cycle is marked, not followed."""
    dependencies, warnings = [], []

    def resolve(text, path):
        def one(match):
            included = match.group(1)
            if included in path:
                warnings.append(f"circular dependency: {included}")
                return f"[[CIRCULAR DEPENDENCY: {included}]]"
            if included not in PROMPTS:
                warnings.append(f"prompt not found: {included}")
                return f"[[PROMPT NOT FOUND: {included}]]"
            if included not in dependencies:
                dependencies.append(included)
            return resolve(PROMPTS[included]["content"], path | {included})

        return INCLUSION.sub(one, text)

    return {"action": "expanded", "content": content, "expanded": resolve(content, {name}),
            "dependencies": dependencies, "warnings": warnings}


async def tell_others(name, sender, message):
    for editor in list(EDITORS[name] - {sender}):
        try:
            await editor.send_json(message)
        except (WebSocketDisconnect, RuntimeError):
            EDITORS[name].discard(editor)


async def answer(name, websocket, text):
    """The reply to one text message, and what the other editors are told."""
    try:
        message = json.loads(text)
    except ValueError:
        return error("invalid_json", "The message is not valid JSON.")
    if not isinstance(message, dict):
        return error("not_an_object", "The message must be a JSON object.")
    action = message.get("action")
    if not isinstance(action, str):
        return error("invalid_field", "The message needs a string \"action\" field.")
    prompt = PROMPTS[name]
    if action == "update":
        content = message.get("content")
        if not isinstance(content, str):
            return error("invalid_field", "An update needs a string \"content\" field.")
        stamp = now()
        prompt.update(content=content, updated_at=stamp)
        await tell_others(name, websocket, {"action": "update", "content": content, "timestamp": stamp})
        return {"action": "update_status", "success": True, "timestamp": stamp}
    if action == "update_metadata":
        description = message.get("description", prompt["description"])
        tags = message.get("tags", prompt["tags"])
        if description is not None and not isinstance(description, str):
            return error("invalid_field", "The \"description\" field must be a string or null.")
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            return error("invalid_field", "The \"tags\" field must be an array of strings.")
        stamp = now()
        prompt.update(description=description, tags=tags, updated_at=stamp)
        await tell_others(name, websocket, {"action": "update_metadata", "description": description,
                                            "tags": tags, "timestamp": stamp})
        return {"action": "update_status", "success": True, "timestamp": stamp}
    if action == "expand":
        content = message.get("content")
        if not isinstance(content, str):
            return error("invalid_field", "An expand request needs a string \"content\" field.")
        return expand(name, content)
    return error("unknown_action", "Unknown action; expected update, update_metadata or expand.")


async def texts(websocket):
    """The text messages of a connection until it ends; a binary one is refused with 1003."""
    try:
        while True:
            event = await websocket.receive()
            if event["type"] == "websocket.disconnect":
                return
            if event.get("text") is None:
                await websocket.close(code=1003, reason="binary messages are not supported")
                return
            yield event["text"]
    except WebSocketDisconnect:
        return


@app.websocket("/ws/prompts/{name}")
async def prompt_socket(websocket: WebSocket, name: str):
    if name not in PROMPTS:
        await websocket.close(code=4004, reason=f"Prompt '{name}' not found")
        return
    await websocket.accept()
    prompt = PROMPTS[name]
    await websocket.send_json({"action": "initial", "content": prompt["content"],
                               "description": prompt["description"], "tags": prompt["tags"],
                               "is_composite": bool(INCLUSION.search(prompt["content"])),
                               "updated_at": prompt["updated_at"]})
    EDITORS[name].add(websocket)
    try:
        async for text in texts(websocket):
            await websocket.send_json(await answer(name, websocket, text))
    finally:
        EDITORS[name].discard(websocket)


@app.websocket("/api/ws/test")
async def echo_socket(websocket: WebSocket):
    await websocket.accept()
    await websocket.send_text("WebSocket test connection successful")
    counter = 0
    async for text in texts(websocket):
        counter += 1
        await websocket.send_json({"received": text, "counter": counter, "timestamp": now(),
                                   "message": "WebSocket echo test"})


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8081
    uvicorn.run(app, host="127.0.0.1", port=port, ws_max_size=MAX_MESSAGE_BYTES, log_level="warning")
