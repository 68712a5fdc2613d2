"""The property test a Prompt Manager developer would write by hand, with Hypothesis and websockets.

It follows the app's own test plan (../shared/PROTOCOL.md): on a prompt socket, every message,
valid or not, gets a well-formed answer. One connection per example, as the plan's tests open
one per test. benches/throughput.rs times it beside wsfuzz.
Run: python3 benches/property_test.py ws://127.0.0.1:PORT EXAMPLES
Prints one JSON line: {"examples": N, "seconds": S}.
"""

import json
import sys
import time

from hypothesis import HealthCheck, given, settings, strategies as st
from websockets.sync.client import connect

URL = sys.argv[1]
EXAMPLES = int(sys.argv[2])

PROMPTS = st.sampled_from(["greeting", "signature", "summary", "cycle_a", "cycle_b"])
TEXT = st.text(max_size=200)
ACTIONS = st.one_of(
    st.builds(lambda content: {"action": "update", "content": content}, TEXT),
    st.builds(lambda description, tags: {"action": "update_metadata", "description": description, "tags": tags},
              st.none() | TEXT, st.lists(TEXT, max_size=5)),
    st.builds(lambda content: {"action": "expand", "content": content}, TEXT),
    st.builds(lambda action: {"action": action}, TEXT),
    st.dictionaries(TEXT, st.none() | st.integers() | TEXT, max_size=4),
)
MESSAGES = ACTIONS.map(json.dumps) | TEXT
ANSWERS = {"update_status", "expanded", "error"}


@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(PROMPTS, MESSAGES)
def every_message_gets_a_well_formed_answer(prompt, message):
    with connect(f"{URL}/ws/prompts/{prompt}", open_timeout=2, close_timeout=2) as ws:
        initial = json.loads(ws.recv(timeout=2))
        assert initial["action"] == "initial", initial
        ws.send(message)
        answer = json.loads(ws.recv(timeout=2))
        assert isinstance(answer, dict) and answer.get("action") in ANSWERS, answer


if __name__ == "__main__":
    started = time.monotonic()
    every_message_gets_a_well_formed_answer()
    print(json.dumps({"examples": EXAMPLES, "seconds": time.monotonic() - started}))
