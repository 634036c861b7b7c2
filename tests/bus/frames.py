#!/usr/bin/env python3
"""Check the frame log that fake_broker.py writes.

Usage:
    frames.py LOG EXPR [--count N]

EXPR is a Python expression evaluated for each logged frame with `f` (the
frame's JSON object: dir, type, id, topic, meta, payload, payload_len,
payload_sha256), `data` (the payload parsed as JSON, or the string
"<not JSON>") and `meta` (meta parsed as JSON, or its text when it is not
JSON). The check passes when at least one frame matches, or exactly N with
--count. On failure it prints the expected count and every frame that the
app sent.
"""

import argparse
import json
import sys


def parse(text):
    try:
        return json.loads(text)
    except ValueError:
        return "<not JSON>"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log")
    parser.add_argument("expr")
    parser.add_argument("--count", type=int, help="exact number of matching frames")
    args = parser.parse_args()

    frames = [json.loads(line) for line in open(args.log, encoding="utf-8")]
    frames = [f for f in frames if "type" in f]
    matches = 0
    for frame in frames:
        meta = parse(frame["meta"])
        if meta == "<not JSON>":
            meta = frame["meta"]
        scope = {"f": frame, "data": parse(frame["payload"]), "meta": meta, "json": json}
        if eval(args.expr, scope):  # the expression comes from the test script
            matches += 1
    ok = matches == args.count if args.count is not None else matches > 0
    if not ok:
        wanted = f"exactly {args.count}" if args.count is not None else "at least one"
        print(f"{matches} frames match, expected {wanted}: {args.expr}")
        for frame in frames:
            if frame["dir"] == "app":
                shown = {k: frame[k] for k in ("type", "id", "topic", "meta", "payload")}
                shown["payload"] = shown["payload"][:200]
                print(f"  {json.dumps(shown)}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
