"""The chat rooms of specs/chat.asyncapi.yaml, shared by the Python calibration servers: what a message asks for, and what each room keeps."""

import json

ROOMS = ("general", "random")


class Room:
    def __init__(self):
        self.clients = set()
        self.texts = []
        self.count = 0


rooms = {name: Room() for name in ROOMS}


def is_integer(value):
    # JSON Schema's integer: a number with no fractional part, and never a boolean.
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def is_unicode(text):
    # JSON may escape a lone surrogate ("\ud800"): no Unicode text, and not encodable as UTF-8,
    # so a stack that sends without escaping (Starlette's send_json) would fail on it.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def handle(room, text):
    """The reply to one text message, and the broadcast to the others (or None)."""
    try:
        message = json.loads(text)
    except ValueError:
        return {"type": "error", "reason": "not JSON"}, None
    except RecursionError:
        return {"type": "error", "reason": "JSON nested deeper than Python's recursion limit"}, None
    if not isinstance(message, dict):
        return {"type": "error", "reason": "not a JSON object"}, None
    kind = message.get("type")
    if kind == "say":
        said = message.get("text")
        if set(message) != {"type", "text"}:
            return {"type": "error", "reason": "say takes type and text"}, None
        if not isinstance(said, str) or not 1 <= len(said) <= 500:
            return {"type": "error", "reason": "text must be 1 to 500 characters"}, None
        if not is_unicode(said):
            return {"type": "error", "reason": "text must be Unicode (no lone surrogate)"}, None
        room.count += 1
        room.texts.append(said)
        del room.texts[:-50]
        return {"type": "sent", "id": room.count}, {"type": "said", "text": said}
    if kind == "history":
        if not set(message) <= {"type", "limit"}:
            return {"type": "error", "reason": "history takes type and limit"}, None
        limit = message.get("limit", 50)
        if not is_integer(limit) or not 1 <= limit <= 50:
            return {"type": "error", "reason": "limit must be an integer from 1 to 50"}, None
        return {"type": "recent", "messages": room.texts[-int(limit):]}, None
    return {"type": "error", "reason": "unknown type"}, None
