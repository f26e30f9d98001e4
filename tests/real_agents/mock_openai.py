#!/usr/bin/env python3
"""Mock of the OpenAI Responses API for Codex CLI, offline.

POST /v1/responses (SSE): by the number of tool outputs already in `input`:
  0 -> a short message + the edit: a function call `exec_command` whose `cmd` is an
       `apply_patch` heredoc replacing MOCK_OLD with MOCK_NEW in the file named in
       the prompt's traceback (Codex intercepts apply_patch and reports a
       `file_change` item). If the request offers no `exec_command`, falls back to
       an `apply_patch` tool call (custom or function) or a `shell` call.
       MOCK_CODEX_EDIT=exec_command|apply_patch|shell forces one way.
  1+ -> final message MOCK_FINAL_TEXT.
A request with no tools gets MOCK_TRIAGE_TEXT. Other paths: minimal JSON.
Usage: mock_openai.py --log requests.jsonl   (prints `PORT <n>` first)
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mock_common import (FINAL_TEXT, TRIAGE_TEXT, is_triage, json_response, patched_line, serve, sse,
                         target_file)


def user_text(items):
    out = []
    for it in items or []:
        if isinstance(it, dict) and it.get("type", "message") == "message" and it.get("role") == "user":
            content = it.get("content")
            if isinstance(content, str):
                out.append(content)
            else:
                out.extend(c.get("text", "") for c in content or [] if isinstance(c, dict))
    return "\n".join(out)


def tool_outputs(items):
    return sum(1 for it in items or [] if isinstance(it, dict)
               and it.get("type") in ("function_call_output", "custom_tool_call_output"))


def tool_names(tools):
    return {t.get("name"): t for t in tools or [] if isinstance(t, dict) and t.get("name")}


def patch_for(path):
    lines = patched_line(path)
    if lines is None:
        old, new = "", ""
    else:
        old, new = lines
    return f"*** Begin Patch\n*** Update File: {path}\n@@\n-{old}\n+{new}\n*** End Patch\n"


def edit_item(body, path, call_id):
    tools = tool_names(body.get("tools"))
    patch = patch_for(path)
    cwd = os.path.dirname(path)
    way = os.environ.get("MOCK_CODEX_EDIT")
    if not way:
        way = next((w for w in ("exec_command", "apply_patch", "shell") if w in tools),
                   "exec_command")
    if way == "apply_patch" and tools.get("apply_patch", {}).get("type") == "custom":
        return {"type": "custom_tool_call", "id": f"ctc_{call_id}", "call_id": call_id,
                "name": "apply_patch", "input": patch, "status": "completed"}
    if way == "apply_patch":
        args = {"input": patch}
    elif way == "shell":
        args = {"command": ["apply_patch", patch], "workdir": cwd}
    else:
        args = {"cmd": f"apply_patch <<'EOF'\n{patch}EOF\n", "workdir": cwd}
    return {"type": "function_call", "id": f"fc_{call_id}", "call_id": call_id,
            "name": way, "arguments": json.dumps(args), "status": "completed"}


def message_item(msg_id, text):
    return {"type": "message", "id": msg_id, "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def response_events(body):
    rid = f"resp_mock_{time.time_ns()}"
    model = body.get("model") or "mock-model"
    items = body.get("input") or []
    tools = body.get("tools") or []
    if is_triage(user_text(items), bool(tools)):
        outputs = [message_item(f"msg_{rid}", TRIAGE_TEXT)]
    elif tool_outputs(items) == 0:
        path = target_file(user_text(items))
        outputs = [message_item(f"msg_{rid}", "Patching the lookup named in the traceback."),
                   edit_item(body, path, f"call_{rid}")]
    else:
        outputs = [message_item(f"msg_{rid}", FINAL_TEXT)]

    base = {"id": rid, "object": "response", "created_at": int(time.time()), "model": model,
            "status": "in_progress", "output": []}
    ev = [("response.created", {"type": "response.created", "response": base}),
          ("response.in_progress", {"type": "response.in_progress", "response": base})]
    seq = 0
    for i, item in enumerate(outputs):
        if item["type"] == "message":
            text = item["content"][0]["text"]
            added = dict(item, status="in_progress", content=[])
            ev.append(("response.output_item.added", {"type": "response.output_item.added",
                                                      "output_index": i, "item": added}))
            ev.append(("response.content_part.added", {
                "type": "response.content_part.added", "item_id": item["id"], "output_index": i,
                "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}))
            half = len(text) // 2
            for piece in (text[:half], text[half:]):
                if piece:
                    ev.append(("response.output_text.delta", {
                        "type": "response.output_text.delta", "item_id": item["id"],
                        "output_index": i, "content_index": 0, "delta": piece}))
            ev.append(("response.output_text.done", {
                "type": "response.output_text.done", "item_id": item["id"], "output_index": i,
                "content_index": 0, "text": text}))
            ev.append(("response.content_part.done", {
                "type": "response.content_part.done", "item_id": item["id"], "output_index": i,
                "content_index": 0, "part": item["content"][0]}))
        else:
            ev.append(("response.output_item.added", {"type": "response.output_item.added",
                                                      "output_index": i, "item": item}))
        ev.append(("response.output_item.done", {"type": "response.output_item.done",
                                                 "output_index": i, "item": item}))
        seq += 1
    done = dict(base, status="completed", output=outputs, usage={
        "input_tokens": 100, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 20, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 120})
    ev.append(("response.completed", {"type": "response.completed", "response": done}))
    return ev


def route(method, path, body):
    bare = path.split("?", 1)[0]
    if method == "POST" and bare.endswith("/responses"):
        return 200, "text/event-stream", sse(response_events(body or {}))
    if bare.endswith("/models"):
        return json_response({"object": "list", "data": [
            {"id": "mock-model", "object": "model", "created": 0, "owned_by": "mock"}],
            "models": []})
    return json_response({})


if __name__ == "__main__":
    serve(route, __doc__)
