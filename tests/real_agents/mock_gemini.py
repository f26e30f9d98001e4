#!/usr/bin/env python3
"""Mock of the Gemini API (generativelanguage v1beta) for Gemini CLI, offline.

POST /v1beta/models/M:streamGenerateContent?alt=sse: by the number of
functionResponse parts already in `contents`:
  0 -> text + functionCall `read_file` on the file named in the prompt's traceback
  1 -> text + functionCall `replace` {file_path, old_string, new_string, instruction}
  2+ -> final text MOCK_FINAL_TEXT (finishReason STOP)
Parameter names are taken from the tools the CLI declares in the request (logged).
If `read_file` is not offered the script goes straight to `replace`.
A request with no tools gets MOCK_TRIAGE_TEXT.
POST ...:generateContent (non-stream: router, next-speaker and other JSON checks)
answers JSON that fits the request's response schema; ...:countTokens -> totals.
Other paths: minimal JSON.
Usage: mock_gemini.py --log requests.jsonl   (prints `PORT <n>` first)
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mock_common import (FINAL_TEXT, NEW, OLD, TRIAGE_TEXT, is_triage, json_response, serve,
                         sse, target_file)

USAGE = {"promptTokenCount": 100, "candidatesTokenCount": 20, "totalTokenCount": 120}


def declarations(body):
    out = {}
    for tool in body.get("tools") or []:
        for d in tool.get("functionDeclarations") or []:
            schema = d.get("parametersJsonSchema") or d.get("parameters") or {}
            out[d.get("name")] = list((schema.get("properties") or {}).keys())
    return out


def user_text(contents):
    out = []
    for c in contents or []:
        if c.get("role", "user") == "user":
            out.extend(p.get("text", "") for p in c.get("parts") or [] if "text" in p)
    return "\n".join(out)


def function_responses(contents):
    return sum(1 for c in contents or [] for p in c.get("parts") or [] if "functionResponse" in p)


def pick(params, *names):
    """The first of `names` the tool declares (or the first name if none match)."""
    for n in names:
        if n in params:
            return n
    return names[0]


def script(body):
    """(parts of the model's answer) for one streamGenerateContent request."""
    decls = declarations(body)
    contents = body.get("contents") or []
    if is_triage(user_text(contents), bool(decls)):
        return [{"text": TRIAGE_TEXT}]
    step = function_responses(contents)
    path = target_file(user_text(contents))
    if "read_file" not in decls and step == 0:
        step = 1
    if step == 0:
        params = decls["read_file"]
        return [{"text": "Reading the file named in the traceback."},
                {"functionCall": {"name": "read_file",
                                  "args": {pick(params, "file_path", "absolute_path", "path"): path}}}]
    if step == 1:
        params = decls.get("replace", [])
        args = {pick(params, "file_path", "absolute_path", "path"): path,
                pick(params, "old_string", "old_str"): OLD,
                pick(params, "new_string", "new_str"): NEW}
        if "instruction" in params:
            args["instruction"] = "Give PORT a default so the app starts when it is unset."
        return [{"text": "The lookup fails when the variable is unset; fixing it."},
                {"functionCall": {"name": "replace", "args": args}}]
    return [{"text": FINAL_TEXT}]


def chunk(model, parts, finish=None):
    cand = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        cand["finishReason"] = finish
    out = {"candidates": [cand], "modelVersion": model, "responseId": f"mock-{time.time_ns()}"}
    if finish:
        out["usageMetadata"] = USAGE
    return out


def fill(schema, key=""):
    """A value that fits a JSON schema (enough for the CLI's internal JSON checks)."""
    if not isinstance(schema, dict):
        return "ok"
    t = schema.get("type")
    t = (t[0] if isinstance(t, list) else t or "").lower()
    if schema.get("enum"):
        enum = schema["enum"]
        for preferred in ("user", "flash"):  # next-speaker: the user; router: the small model
            if preferred in enum:
                return preferred
        return enum[0]
    if t == "object" or "properties" in schema:
        return {k: fill(v, k) for k, v in (schema.get("properties") or {}).items()}
    if t == "array":
        return []
    if t in ("integer", "number"):
        return schema.get("minimum", 1)  # e.g. the router's complexity_score is 1-100
    if t == "boolean":
        return False
    if key == "next_speaker":
        return "user"
    if key == "model_choice":
        return "flash"
    return "ok"


def generate(model, body):
    cfg = body.get("generationConfig") or body.get("config") or {}
    schema = cfg.get("responseJsonSchema") or cfg.get("responseSchema")
    if schema:
        text = json.dumps(fill(schema))
    elif cfg.get("responseMimeType") == "application/json":
        text = json.dumps({"reasoning": "mock", "next_speaker": "user", "model_choice": "flash"})
    else:
        parts = script(body)
        return chunk(model, parts, "STOP") | {"usageMetadata": USAGE}
    return chunk(model, [{"text": text}], "STOP")


def route(method, path, body):
    bare = path.split("?", 1)[0]
    body = body or {}
    if method == "POST" and ":" in bare:
        model = bare.rsplit("/", 1)[-1].split(":", 1)[0]
        action = bare.rsplit(":", 1)[-1]
        if action == "streamGenerateContent":
            parts = script(body)
            events = [(None, chunk(model, [p])) for p in parts[:-1]]
            events.append((None, chunk(model, parts[-1:], "STOP")))
            return 200, "text/event-stream", sse(events)
        if action == "generateContent":
            return json_response(generate(model, body))
        if action == "countTokens":
            return json_response({"totalTokens": 100})
        if action in ("embedContent", "batchEmbedContents"):
            return json_response({"embedding": {"values": [0.0] * 8}})
    if bare.startswith("/v1beta/models"):
        return json_response({"models": []})
    return json_response({})


if __name__ == "__main__":
    serve(route, __doc__)
