#!/usr/bin/env python3
"""A fake bus broker that runs one cashstory-app against a socket pair.

It creates an AF_UNIX SOCK_STREAM socket pair, starts the app host command
with one end (the token @BUS_FD@ in the command is replaced by the
descriptor number), sends WELCOME and then answers the app's frames much as
the daemon's broker would, for a single app:

- PUBLISH: ACK, then DELIVER to the app's own subscriptions that match the
  topic. Topics under denied/ get ERROR EACCES, topics under silent/ get
  no answer at all, and topics under control/ are commands of the test app
  to this broker (below).
- SUBSCRIBE: ACK, or ERROR EACCES for patterns under denied/.
- SEND: to the app itself, ACK and a DELIVER with id 0; to
  com.example.missing, ERROR ENOENT; to any other app, ACK only.
- REQUEST: to the app itself, ACK and an INCOMING to the app, whose RESPONSE
  comes back as REPLY; to com.example.missing, ERROR ENOENT; to any other
  app, ACK and never a reply.
- PEERS: PEER_LIST with the app and com.example.other.

Commands (PUBLISH on control/NAME, JSON data), run after the ACK, or
"delay" seconds later:
  incoming   {topic, payload, sender?}        send INCOMING (payload is raw text)
  deliver    {topic, payload, id?, pattern?, sender?, meta?, payload_hex?}
                                              send DELIVER; pattern picks the id of
                                              the app's subscription to it, and
                                              payload_hex replaces payload
  large      {pattern, topic, size}           DELIVER a JSON string of size bytes
  peer-event {event, sender?}                 send PEER_EVENT
  error      {id, code, message}              send ERROR
  malformed  {case}                           send a frame that breaks the protocol
                                              (see MALFORMED)
  close      {partial?}                       write the first `partial` bytes of a
                                              DELIVER, then close the socket

Every frame in either direction is appended to the frame log as one JSON
line: {"dir": "app" | "broker", "type", "id", "topic", "meta", "payload",
"payload_len", "payload_sha256"}, where text fields are decoded as UTF-8
(invalid bytes replaced) and a payload over 4096 bytes is cut to its first
64 bytes.

Exit status: the app's, or 98 when the broker fails (the app did not exit
within --timeout seconds, or it sent a malformed frame), with a line on
stderr that starts with "fake broker:".

--split writes every frame one byte at a time with a short pause, so that
the app reads partial headers and bodies. --start CASE sends a first frame
that is not a valid WELCOME (see START).

Usage:
    fake_broker.py --log FRAMES.jsonl [--timeout S] [--split] [--start CASE] -- COMMAND...
"""

import argparse
import hashlib
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time

# Frame header of src/bus/frame.h: magic, version, type, flags, meta
# length, id, topic length, reserved, payload length; little-endian.
HEADER = struct.Struct("<2sBBHHQHHI")
MAGIC = b"CS"
VERSION = 1
TOPIC_MAX = 256
META_MAX = 4096
PAYLOAD_MAX = 1024 * 1024

TYPES = {
    1: "PUBLISH", 2: "SUBSCRIBE", 3: "UNSUBSCRIBE", 4: "SEND", 5: "REQUEST",
    6: "RESPONSE", 7: "PEERS", 16: "WELCOME", 17: "DELIVER", 18: "INCOMING",
    19: "REPLY", 20: "ACK", 21: "ERROR", 22: "PEER_LIST", 23: "PEER_EVENT",
}
CODES = {name: code for code, name in TYPES.items()}

APP_ID = "com.example.bustest"
OTHER_ID = "com.example.other"
MISSING_ID = "com.example.missing"

# Broker request ids start above 2^53, so that the app must keep them exact.
FIRST_REQUEST_ID = 2**60 + 5


def identity(app_id, instance="1"):
    return {
        "appId": app_id,
        "instanceId": f"{app_id}#{instance}",
        "version": "1.0.0",
        "publisher": {"type": "ed25519", "keyId": "ab" * 32},
        "origin": None,
        "packageDigest": "cd" * 32,
    }


def encode(ftype, fid=0, topic=b"", meta=b"", payload=b""):
    def as_bytes(value):
        if isinstance(value, (dict, list)):
            value = json.dumps(value, separators=(",", ":"))
        return value.encode() if isinstance(value, str) else value

    topic, meta, payload = as_bytes(topic), as_bytes(meta), as_bytes(payload)
    header = HEADER.pack(MAGIC, VERSION, CODES[ftype], 0, len(meta), fid, len(topic), 0,
                         len(payload))
    return header + topic + meta + payload


def header(ftype_code, mlen, fid, tlen, plen, magic=MAGIC, version=VERSION):
    return HEADER.pack(magic, version, ftype_code, 0, mlen, fid, tlen, 0, plen)


# Frames that break the protocol, by case name: each is what the broker
# writes for control/malformed.
MALFORMED = {
    "bad-magic": header(CODES["ACK"], 0, 0, 0, 0, magic=b"XX"),
    "bad-version": header(CODES["ACK"], 0, 0, 0, 0, version=7),
    "unknown-type": header(99, 0, 0, 0, 0),
    "payload-too-large": header(CODES["DELIVER"], 0, 0, 0, PAYLOAD_MAX + 1),
    "topic-not-utf8": header(CODES["DELIVER"], 2, 0, 2, 2) + b"\xff\xfe" + b"{}" + b"{}",
    "app-type": encode("PUBLISH", 0, "news/x", b"", b"1"),
    "meta-not-identity": encode("DELIVER", 0, "news/x", b"not json", b"1"),
    "identity-without-app-id": encode("DELIVER", 0, "news/x", b'{"app":"x"}', b"1"),
    "second-welcome": encode("WELCOME", 0, b"", identity("com.example.intruder"), b""),
}


# First frames that are not a valid WELCOME, by case name (--start).
START = {
    "deliver-first": encode("DELIVER", 0, "news/x", identity(OTHER_ID), b"1"),
    "welcome-not-identity": encode("WELCOME", 0, b"", b"[1, 2]", b""),
}


def topic_matches(pattern, topic):
    wanted, got = pattern.split("/"), topic.split("/")
    return len(wanted) == len(got) and all(w in ("*", g) for w, g in zip(wanted, got))


class BrokerError(Exception):
    pass


class Broker:
    def __init__(self, sock, log, self_identity):
        self.sock = sock
        self.log = log
        self.identity = self_identity
        self.buffer = b""
        self.split = False
        self.closed = False
        self.subscriptions = {}  # subscription id -> pattern
        self.next_request_id = FIRST_REQUEST_ID
        self.requests = {}  # broker request id -> the app's REQUEST id
        self.scheduled = []  # (monotonic time, command name, args)

    def record(self, direction, ftype, fid, topic, meta, payload):
        entry = {
            "dir": direction,
            "type": TYPES.get(ftype, str(ftype)),
            "id": fid,
            "topic": topic.decode("utf-8", "replace"),
            "meta": meta.decode("utf-8", "replace"),
            "payload_len": len(payload),
            "payload_sha256": hashlib.sha256(payload).hexdigest(),
        }
        shown = payload if len(payload) <= 4096 else payload[:64]
        entry["payload"] = shown.decode("utf-8", "replace")
        self.log.write(json.dumps(entry, sort_keys=True) + "\n")
        self.log.flush()

    def write(self, data):
        if self.closed:
            return
        try:
            if not self.split:
                self.sock.sendall(data)
                return
            for i in range(len(data)):
                self.sock.sendall(data[i:i + 1])
                # A pause lets the app read every byte on its own.
                time.sleep(0.0005)
        except (BrokenPipeError, ConnectionResetError):
            self.closed = True

    def send(self, ftype, fid=0, topic=b"", meta=b"", payload=b""):
        data = encode(ftype, fid, topic, meta, payload)
        _, _, mlen, _, tlen, _, plen = HEADER.unpack(data[:24])[2:]
        body = data[24:]
        self.record("broker", CODES[ftype], fid, body[:tlen], body[tlen:tlen + mlen],
                    body[tlen + mlen:])
        self.write(data)

    def close(self):
        if not self.closed:
            self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()
            self.closed = True

    # ---- Reading ---------------------------------------------------------

    def feed(self, data):
        self.buffer += data
        while len(self.buffer) >= HEADER.size:
            magic, version, ftype, flags, mlen, fid, tlen, reserved, plen = HEADER.unpack(
                self.buffer[:HEADER.size])
            if magic != MAGIC or version != VERSION or flags or reserved:
                raise BrokerError(f"malformed frame header from the app: {self.buffer[:24].hex()}")
            if ftype not in TYPES or ftype >= 16:
                raise BrokerError(f"the app sent a frame of type {ftype}")
            if tlen > TOPIC_MAX or mlen > META_MAX or plen > PAYLOAD_MAX:
                raise BrokerError("the app sent a frame over the size limits")
            size = HEADER.size + tlen + mlen + plen
            if len(self.buffer) < size:
                return
            body = self.buffer[HEADER.size:size]
            self.buffer = self.buffer[size:]
            topic, meta, payload = body[:tlen], body[tlen:tlen + mlen], body[tlen + mlen:]
            self.record("app", ftype, fid, topic, meta, payload)
            self.handle(TYPES[ftype], fid, topic.decode(), meta.decode(), payload)

    # ---- Replies to the app's frames ---------------------------------------

    def handle(self, ftype, fid, topic, meta, payload):
        me = self.identity
        if ftype == "PUBLISH":
            if topic.startswith("denied/"):
                self.send("ERROR", fid, "EACCES", payload=f"{APP_ID} may not publish on {topic}")
                return
            if topic.startswith("silent/"):
                return
            self.send("ACK", fid)
            if topic.startswith("control/"):
                args = json.loads(payload)
                name = topic[len("control/"):]
                if "delay" in args:
                    self.scheduled.append((time.monotonic() + args["delay"], name, args))
                else:
                    self.command(name, args)
                return
            for sid, pattern in list(self.subscriptions.items()):
                if topic_matches(pattern, topic):
                    self.send("DELIVER", sid, topic, me, payload)
        elif ftype == "SUBSCRIBE":
            if topic.startswith("denied/"):
                self.send("ERROR", fid, "EACCES", payload=f"{APP_ID} may not subscribe to {topic}")
                return
            self.subscriptions[fid] = topic
            self.send("ACK", fid)
        elif ftype == "UNSUBSCRIBE":
            self.subscriptions.pop(fid, None)
        elif ftype == "SEND":
            if meta == MISSING_ID:
                self.send("ERROR", fid, "ENOENT", payload=f"no app {meta} is connected")
                return
            self.send("ACK", fid)
            if meta == APP_ID:
                self.send("DELIVER", 0, topic, me, payload)
        elif ftype == "REQUEST":
            if meta == MISSING_ID:
                self.send("ERROR", fid, "ENOENT", payload=f"no app {meta} is connected")
                return
            self.send("ACK", fid)
            if meta == APP_ID:
                rid = self.next_request_id
                self.next_request_id += 1
                self.requests[rid] = fid
                self.send("INCOMING", rid, topic, me, payload)
        elif ftype == "RESPONSE":
            rid = int(meta) if meta.isdigit() else None
            if rid in self.requests:
                self.send("REPLY", self.requests.pop(rid), meta=me, payload=payload)
        elif ftype == "PEERS":
            self.send("PEER_LIST", fid, payload=[me, identity(OTHER_ID)])

    def command(self, name, args):
        sender = args.get("sender", identity(OTHER_ID))
        if name == "incoming":
            rid = self.next_request_id
            self.next_request_id += 1
            self.send("INCOMING", rid, args["topic"], sender, args["payload"])
        elif name == "deliver":
            sid = args.get("id", 0)
            if "pattern" in args:
                sid = next(s for s, p in self.subscriptions.items() if p == args["pattern"])
            meta = args["meta"] if "meta" in args else sender
            payload = args["payload"]
            if "payload_hex" in args:
                payload = bytes.fromhex(args["payload_hex"])
            self.send("DELIVER", sid, args["topic"], meta, payload)
        elif name == "large":
            sid = next(s for s, p in self.subscriptions.items() if p == args["pattern"])
            payload = json.dumps("x" * (args["size"] - 2))
            self.send("DELIVER", sid, args["topic"], sender, payload)
        elif name == "peer-event":
            self.send("PEER_EVENT", 0, args["event"], sender)
        elif name == "error":
            self.send("ERROR", args["id"], args["code"], payload=args["message"])
        elif name == "malformed":
            data = MALFORMED[args["case"]]
            self.log.write(json.dumps({"dir": "broker", "malformed": args["case"]}) + "\n")
            self.write(data)
        elif name == "close":
            frame = encode("DELIVER", 0, "news/x", sender, "1")
            self.write(frame[:args.get("partial", 0)])
            self.close()
        else:
            raise BrokerError(f"unknown command control/{name}")


def receive(sock):
    """Bytes from the app, or b"" once its end is closed. An app that exits
    with unread frames resets the connection instead of closing it."""
    try:
        return sock.recv(65536)
    except ConnectionResetError:
        return b""


def run(args):
    broker_end, app_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    # The broker's own writes must not block while the app writes a large
    # frame to it.
    broker_end.settimeout(args.timeout)
    command = [part.replace("@BUS_FD@", str(app_end.fileno())) for part in args.command]
    app = subprocess.Popen(command, pass_fds=[app_end.fileno()])
    app_end.close()

    self_identity = json.loads(args.identity) if args.identity else identity(APP_ID)
    with open(args.log, "a", encoding="utf-8") as log:
        broker = Broker(broker_end, log, self_identity)
        broker.split = args.split
        if args.start is not None:
            broker.write(START[args.start])
        else:
            broker.send("WELCOME", meta=self_identity)
        deadline = time.monotonic() + args.timeout
        try:
            while app.poll() is None:
                if time.monotonic() > deadline:
                    app.kill()
                    app.wait()
                    raise BrokerError(f"the app did not exit within {args.timeout} s")
                now = time.monotonic()
                for due in [task for task in broker.scheduled if task[0] <= now]:
                    broker.scheduled.remove(due)
                    broker.command(due[1], due[2])
                if broker.closed:
                    time.sleep(0.01)
                    continue
                ready, _, _ = select.select([broker_end], [], [], 0.05)
                if not ready:
                    continue
                data = receive(broker_end)
                if not data:
                    # The app closed its end; wait for it to exit.
                    broker.closed = True
                    continue
                broker.feed(data)
            # Frames the app wrote just before it exited.
            if not broker.closed:
                broker_end.setblocking(False)
            while not broker.closed:
                try:
                    data = receive(broker_end)
                except BlockingIOError:
                    break
                if not data:
                    break
                broker.feed(data)
        except BrokerError as error:
            if app.poll() is None:
                app.kill()
                app.wait()
            print(f"fake broker: {error}", file=sys.stderr)
            return 98
    return app.returncode


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", required=True, help="append the frames as JSON lines here")
    parser.add_argument("--timeout", type=float, default=20.0,
                        help="seconds the app may run (default 20)")
    parser.add_argument("--identity", help="identity JSON sent in WELCOME")
    parser.add_argument("--split", action="store_true",
                        help="write every frame one byte at a time")
    parser.add_argument("--start", choices=sorted(START),
                        help="send this invalid first frame instead of WELCOME")
    parser.add_argument("command", nargs="+", help="the app host command, with @BUS_FD@")
    args = parser.parse_args()
    sys.exit(run(args))


if __name__ == "__main__":
    main()
