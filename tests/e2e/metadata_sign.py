"""Repository metadata by hand: signs and checks files with openssl, the way
docs/repository.md specifies them, independently of the cashstory code.

  metadata_sign.py verify FILE ROOT            exit 0 when FILE carries the
                                               threshold of valid signatures of
                                               its role's keys in ROOT
  metadata_sign.py edit FILE CODE KEY...       run CODE on s (the "signed"
                                               object), then re-sign FILE
  metadata_sign.py republish REPO KEYS FILE KEYNAME CODE
                                               edit FILE (a targets file) with
                                               CODE, raise its version, sign it
                                               with KEYS/KEYNAME.key and publish
                                               it with a new snapshot and
                                               timestamp (KEYS/snapshot.key,
                                               KEYS/timestamp.key); CODE may
                                               also change `snap`, the snapshot
"""
import binascii, hashlib, json, os, subprocess, sys, tempfile

DOMAIN = b"CashStory repository metadata v1\0"


def canonical(signed):
    return json.dumps(signed, sort_keys=True, separators=(",", ":")).encode()


def keyid(key):
    der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


def sign(signed, keys):
    sigs = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "message")
        open(path, "wb").write(DOMAIN + canonical(signed))
        for key in keys:
            sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", key, "-rawin", "-in",
                                  path], check=True, capture_output=True).stdout
            sigs.append({"keyid": keyid(key), "sig": sig.hex()})
    return json.dumps({"signatures": sigs, "signed": signed}, indent=2, sort_keys=True) + "\n"


def verify(path, root_path):
    doc = json.load(open(path))
    root = json.load(open(root_path))["signed"]
    role = root["roles"][doc["signed"]["type"]]
    valid = set()
    with tempfile.TemporaryDirectory() as tmp:
        message = os.path.join(tmp, "message")
        open(message, "wb").write(DOMAIN + canonical(doc["signed"]))
        for sig in doc["signatures"]:
            if sig["keyid"] not in role["keyids"]:
                continue
            raw = binascii.unhexlify(root["keys"][sig["keyid"]]["public"])
            # DER SubjectPublicKeyInfo of an Ed25519 key: a fixed prefix, then the key.
            open(os.path.join(tmp, "key.der"), "wb").write(
                binascii.unhexlify("302a300506032b6570032100") + raw)
            open(os.path.join(tmp, "sig"), "wb").write(binascii.unhexlify(sig["sig"]))
            r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER",
                                "-inkey", os.path.join(tmp, "key.der"), "-rawin", "-in", message,
                                "-sigfile", os.path.join(tmp, "sig")], capture_output=True)
            if r.returncode == 0:
                valid.add(sig["keyid"])
    return len(valid) >= role["threshold"]


def write(path, text):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if os.path.exists(path):
        os.chmod(path, 0o644)
    open(path, "w").write(text)


def entry(path, version):
    data = open(path, "rb").read()
    return {"version": version, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def versioned(name, version):
    head, tail = os.path.split(name)
    return os.path.join(head, "%d.%s" % (version, tail))


def republish(repo, keys, name, keyname, code):
    s = json.load(open(os.path.join(repo, name)))["signed"]
    snap = json.load(open(os.path.join(repo, "snapshot.json")))["signed"]
    exec(code)
    s["version"] += 1
    text = sign(s, [os.path.join(keys, keyname + ".key")])
    write(os.path.join(repo, name), text)
    write(os.path.join(repo, versioned(name, s["version"])), text)
    snap["meta"][name] = entry(os.path.join(repo, name), s["version"])
    snap["version"] += 1
    text = sign(snap, [os.path.join(keys, "snapshot.key")])
    write(os.path.join(repo, "snapshot.json"), text)
    write(os.path.join(repo, "%d.snapshot.json" % snap["version"]), text)
    ts = json.load(open(os.path.join(repo, "timestamp.json")))["signed"]
    ts["snapshot"] = entry(os.path.join(repo, "snapshot.json"), snap["version"])
    ts["version"] += 1
    write(os.path.join(repo, "timestamp.json"), sign(ts, [os.path.join(keys, "timestamp.key")]))


def main():
    cmd = sys.argv[1]
    if cmd == "verify":
        sys.exit(0 if verify(sys.argv[2], sys.argv[3]) else 1)
    if cmd == "edit":
        path = sys.argv[2]
        s = json.load(open(path))["signed"]
        exec(sys.argv[3])
        write(path, sign(s, sys.argv[4:]))
    elif cmd == "republish":
        republish(*sys.argv[2:7])
    else:
        sys.exit("unknown command " + cmd)


main()
