#!/usr/bin/env python3
"""Mock of the Anthropic Messages API for Claude Code, offline.

POST /v1/messages[?beta=true]: with tools offered, the script is, by the number of
tool_result blocks already in the conversation:
  0 -> text + `Read` tool_use on the file named in the prompt's traceback
  1 -> text + `Edit` tool_use replacing MOCK_OLD with MOCK_NEW in it
  2+ -> final text MOCK_FINAL_TEXT, stop_reason end_turn
With no tools (triage, or Claude Code's own side requests) -> MOCK_TRIAGE_TEXT.
SSE when "stream": true, else one JSON message. Any other path: minimal JSON.
Usage: mock_anthropic.py --log requests.jsonl   (prints `PORT <n>` first)
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mock_common import (FINAL_TEXT, NEW, OLD, TRIAGE_TEXT, json_response, is_triage, serve,
                         sse, target_file)


def user_texts(content):
    if isinstance(content, str):
        return [content]
    return [b.get("text", "") for b in content or [] if b.get("type") == "text"]


def count_tool_results(messages):
    n = 0
    for m in messages:
        if m.get("role") == "user" and isinstance(m.get("content"), list):
            n += sum(1 for b in m["content"] if b.get("type") == "tool_result")
    return n


def script(body):
    """Content blocks and stop_reason for one request."""
    messages = body.get("messages") or []
    tools = body.get("tools") or []
    # Only the user's own words (not tool results) name the file to fix.
    prompt = "\n".join(
        t for m in messages if m.get("role") == "user" for t in user_texts(m.get("content")))
    if is_triage(prompt, bool(tools)):
        return [{"type": "text", "text": TRIAGE_TEXT}], "end_turn"
    path = target_file(prompt)
    step = count_tool_results(messages)
    if step == 0:
        return [
            {"type": "text", "text": "Reading the file named in the traceback."},
            {"type": "tool_use", "id": "toolu_mock_read", "name": "Read",
             "input": {"file_path": path}},
        ], "tool_use"
    if step == 1:
        return [
            {"type": "text", "text": "The lookup fails when the variable is unset; fixing it."},
            {"type": "tool_use", "id": "toolu_mock_edit", "name": "Edit",
             "input": {"file_path": path, "old_string": OLD, "new_string": NEW,
                       "replace_all": False}},
        ], "tool_use"
    return [{"type": "text", "text": FINAL_TEXT}], "end_turn"


def message_events(msg_id, model, blocks, stop_reason):
    ev = [("message_start", {"type": "message_start", "message": {
        "id": msg_id, "type": "message", "role": "assistant", "model": model,
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 100, "output_tokens": 1,
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}}),
        ("ping", {"type": "ping"})]
    for i, b in enumerate(blocks):
        if b["type"] == "text":
            ev.append(("content_block_start", {"type": "content_block_start", "index": i,
                                               "content_block": {"type": "text", "text": ""}}))
            text = b["text"]
            half = len(text) // 2
            for piece in (text[:half], text[half:]):
                if piece:
                    ev.append(("content_block_delta", {
                        "type": "content_block_delta", "index": i,
                        "delta": {"type": "text_delta", "text": piece}}))
        else:
            ev.append(("content_block_start", {"type": "content_block_start", "index": i,
                                               "content_block": {"type": "tool_use", "id": b["id"],
                                                                 "name": b["name"], "input": {}}}))
            js = json.dumps(b["input"])
            cut = len(js) // 2
            for piece in (js[:cut], js[cut:]):
                ev.append(("content_block_delta", {
                    "type": "content_block_delta", "index": i,
                    "delta": {"type": "input_json_delta", "partial_json": piece}}))
        ev.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    ev.append(("message_delta", {"type": "message_delta",
                                 "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                 "usage": {"output_tokens": 20}}))
    ev.append(("message_stop", {"type": "message_stop"}))
    return ev


def route(method, path, body):
    bare = path.split("?", 1)[0]
    if method == "POST" and bare == "/v1/messages":
        body = body or {}
        model = body.get("model") or "claude-mock"
        blocks, stop = script(body)
        msg_id = f"msg_mock_{time.time_ns()}"
        if body.get("stream"):
            return 200, "text/event-stream", sse(message_events(msg_id, model, blocks, stop))
        return json_response({
            "id": msg_id, "type": "message", "role": "assistant", "model": model,
            "content": blocks, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": 100, "output_tokens": 20,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}})
    if bare == "/v1/messages/count_tokens":
        return json_response({"input_tokens": 100})
    if bare == "/v1/models":
        return json_response({"data": [], "has_more": False, "first_id": None, "last_id": None})
    return json_response({})


if __name__ == "__main__":
    serve(route, __doc__)
