#!/usr/bin/env python3
"""Build hostile CashStory packages for the end-to-end tests.

Each case writes a .csa archive by hand. Where a case needs a signature, the
crafted index is signed with the test's Ed25519 key, so the signature is valid
and only the structural checks of `cashstory verify` and `cashstory install`
can reject the archive.

Usage:
    craft.py cases
    craft.py build CASE --src DIR --key NAME.key --pub NAME.pub --out FILE.csa
    craft.py build-all --src DIR --key NAME.key --pub NAME.pub --out-dir DIR
    craft.py members FILE.csa
    craft.py flip FILE.csa MEMBER
    craft.py flip FILE

Signing runs `openssl pkeyutl -sign -rawin`, so `openssl` must be on PATH
(tested with OpenSSL 3.0). Everything else uses the Python standard library.
"""

import argparse
import base64
import gzip
import hashlib
import io
import json
import os
import random
import stat
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass

# The signed message is this domain string, one NUL byte, then the exact index
# bytes (CS_DOMAIN_PACKAGE_INDEX in src/crypto/signature.h).
SIGNATURE_DOMAIN = b"CashStory package index v1\0"

INDEX_PATH = ".cashstory/index.json"
SIGNATURE_PATH = ".cashstory/index.sig"
SIGNER_KEY_PATH = ".cashstory/signer.pub"
MANIFEST_PATH = "cashstory.json"

# Limits from src/package/index.h and src/common/path.h.
FILE_MAX_BYTES = 1024 * 1024 * 1024
INDEX_MAX_FILES = 100000
INDEX_MAX_BYTES = 16 * 1024 * 1024
PATH_MAX_BYTES = 1024
PATH_COMPONENT_MAX_BYTES = 255

BLOCK = 512
MTIME = 1767225600  # 2026-01-01T00:00:00Z

REGULAR = b"0"
HARD_LINK = b"1"
SYMBOLIC_LINK = b"2"
CHARACTER_DEVICE = b"3"
DIRECTORY = b"5"
FIFO = b"6"
PAX_HEADER = b"x"


@dataclass
class Entry:
    """One tar member as it is written, including any deliberate lie."""

    path: str
    data: bytes = b""
    mode: int = 0o644
    kind: bytes = REGULAR
    linkname: str = ""
    header_size: int | None = None  # size field in the header, when not len(data)
    device: tuple[int, int] = (0, 0)
    pax: dict[str, str] | None = None  # extra pax extended header records


def octal_field(value, width):
    return b"%0*o\0" % (width - 1, value)


def ustar_header(name, size, mode, kind, linkname="", device=(0, 0)):
    """Return one 512-byte ustar header. name must fit in 100 bytes."""
    encoded_name = name.encode()
    encoded_link = linkname.encode()
    if len(encoded_name) > 100 or len(encoded_link) > 100:
        raise ValueError(f"name or link target too long for a ustar header: {name!r}")
    header = bytearray(BLOCK)
    header[0:len(encoded_name)] = encoded_name
    header[100:108] = octal_field(mode, 8)
    header[108:116] = octal_field(0, 8)
    header[116:124] = octal_field(0, 8)
    header[124:136] = octal_field(size, 12)
    header[136:148] = octal_field(MTIME, 12)
    header[148:156] = b" " * 8
    header[156:157] = kind
    header[157:157 + len(encoded_link)] = encoded_link
    header[257:265] = b"ustar\x0000"
    header[265:269] = b"root"
    header[297:301] = b"root"
    header[329:337] = octal_field(device[0], 8)
    header[337:345] = octal_field(device[1], 8)
    checksum = sum(header)
    header[148:156] = b"%06o\0 " % checksum
    return bytes(header)


def pad(data):
    return data + b"\0" * (-len(data) % BLOCK)


def pax_record(key, value):
    """Return one pax extended header record: "LENGTH key=value\\n"."""
    body = b" " + key.encode() + b"=" + value.encode() + b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length = len(str(length)) + len(body)
    return str(length).encode() + body


def write_tar(entries):
    """Return the bytes of a tar archive holding entries, in the given order."""
    out = bytearray()
    for entry in entries:
        name = entry.path
        records = dict(entry.pax or {})
        if len(entry.path.encode()) > 100:
            # A pax extended header carries the full path, and the ustar
            # header gets a truncated stand-in.
            records["path"] = entry.path
            name = entry.path.encode()[:99].decode(errors="ignore")
        if records:
            body = b"".join(pax_record(key, value) for key, value in records.items())
            out += ustar_header("PaxHeaders/entry", len(body), 0o644, PAX_HEADER)
            out += pad(body)
        size = len(entry.data) if entry.header_size is None else entry.header_size
        out += ustar_header(name, size, entry.mode, entry.kind, entry.linkname, entry.device)
        out += pad(entry.data)
    out += b"\0" * (2 * BLOCK)
    return bytes(out)


def public_key_id(pem):
    """Return the key id: the SHA-256 of the DER SubjectPublicKeyInfo, in hex."""
    lines = pem.decode().strip().splitlines()
    body = "".join(line for line in lines if not line.startswith("-----"))
    return hashlib.sha256(base64.b64decode(body)).hexdigest()


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def read_app_files(src):
    """Read every regular file below src into {package path: (bytes, mode)}."""
    files = {}
    for root, dirs, names in os.walk(src):
        dirs.sort()
        for name in sorted(names):
            full = os.path.join(root, name)
            rel = os.path.relpath(full, src).replace(os.sep, "/")
            with open(full, "rb") as f:
                data = f.read()
            executable = os.stat(full).st_mode & stat.S_IXUSR
            files[rel] = (data, 0o755 if executable else 0o644)
    return files


class Crafter:
    """Build indexes, signatures and archives from one example app and key."""

    def __init__(self, src, key_path, pub_path):
        self.key_path = key_path
        with open(pub_path, "rb") as f:
            self.signer_pem = f.read()
        self.key_id = public_key_id(self.signer_pem)
        self.files = read_app_files(src)
        manifest = json.loads(self.files[MANIFEST_PATH][0])
        self.app_id = manifest["id"]
        self.version = manifest["version"]

    def app_files(self):
        """Return a copy of the app files that a case may change."""
        return dict(self.files)

    def index(self, files):
        """Return the index (a dict) that lists files, as `cashstory pack` would."""
        listed = [
            {"path": path, "size": len(data), "sha256": sha256_hex(data),
             "mode": "0755" if mode == 0o755 else "0644"}
            for path, (data, mode) in sorted(files.items(), key=lambda item: item[0].encode())
        ]
        return {
            "format": "cashstory-index/1",
            "app": {"id": self.app_id, "version": self.version},
            "created": "2026-01-01T00:00:00Z",
            "manifest_sha256": sha256_hex(files[MANIFEST_PATH][0]),
            "signer": {"type": "ed25519", "key_id": self.key_id},
            "files": listed,
        }

    def sign(self, message_body):
        """Sign the domain prefix and message_body with the test key."""
        with tempfile.TemporaryDirectory() as scratch:
            message = os.path.join(scratch, "message")
            signature = os.path.join(scratch, "signature")
            with open(message, "wb") as f:
                f.write(SIGNATURE_DOMAIN + message_body)
            subprocess.run(
                ["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", self.key_path,
                 "-in", message, "-out", signature],
                check=True)
            with open(signature, "rb") as f:
                return f.read()

    def metadata(self, index, compact=False):
        """Return the three metadata entries: the index, its signature, the signer key."""
        if compact:
            text = json.dumps(index, separators=(",", ":"), sort_keys=True)
        else:
            text = json.dumps(index, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        index_bytes = text.encode()
        return [
            Entry(INDEX_PATH, index_bytes),
            Entry(SIGNATURE_PATH, self.sign(index_bytes)),
            Entry(SIGNER_KEY_PATH, self.signer_pem),
        ]

    def entries(self, files, index=None):
        """Return the metadata and file entries in pack order.

        index defaults to the index of files. It is signed as given, so a case
        may list what the archive does not contain.
        """
        if index is None:
            index = self.index(files)
        out = self.metadata(index)
        for path in sorted(files, key=str.encode):
            data, mode = files[path]
            out.append(Entry(path, data, mode))
        return out

    def valid_archive(self):
        return write_tar(self.entries(self.app_files()))


def find(entries, path):
    for entry in entries:
        if entry.path == path:
            return entry
    raise KeyError(path)


# ---- cases: each returns the bytes of one hostile archive -----------------

CASES = {}


def case(function):
    """Register a case under its function name, with '_' written as '-'."""
    CASES[function.__name__.replace("_", "-")] = function
    return function


@case
def valid(crafter):
    """Build a correct package, so a test can show that crafted signatures verify."""
    return crafter.valid_archive()


# Members that do not match the signed index.

@case
def unlisted_file(crafter):
    entries = crafter.entries(crafter.app_files())
    entries.append(Entry("zz-unlisted.js", b"console.log('not signed');\n"))
    return write_tar(entries)


@case
def unlisted_file_first(crafter):
    entries = crafter.entries(crafter.app_files())
    entries.insert(3, Entry("aa-unlisted.js", b"console.log('not signed');\n"))
    return write_tar(entries)


@case
def missing_file(crafter):
    entries = crafter.entries(crafter.app_files())
    entries.remove(find(entries, "main.js"))
    return write_tar(entries)


@case
def duplicate_path(crafter):
    entries = crafter.entries(crafter.app_files())
    entries.append(Entry("main.js", find(entries, "main.js").data))
    return write_tar(entries)


@case
def duplicate_path_other_content(crafter):
    entries = crafter.entries(crafter.app_files())
    entries.append(Entry("main.js", b"console.log('second copy');\n"))
    return write_tar(entries)


@case
def renamed_file(crafter):
    entries = crafter.entries(crafter.app_files())
    find(entries, "main.js").path = "main2.js"
    return write_tar(entries)


@case
def size_differs_from_index(crafter):
    entries = crafter.entries(crafter.app_files())
    find(entries, "main.js").data += b"// appended\n"
    return write_tar(entries)


@case
def mode_differs_from_index(crafter):
    entries = crafter.entries(crafter.app_files())
    find(entries, "main.js").mode = 0o755
    return write_tar(entries)


@case
def index_names_other_signer(crafter):
    files = crafter.app_files()
    index = crafter.index(files)
    index["signer"]["key_id"] = "ab" * 32
    return write_tar(crafter.entries(files, index))


# Paths and entry types that a package must never contain.

def with_extra(crafter, entry, index_lists_it=False):
    """Return an archive with entry appended, optionally listed in the signed index."""
    files = crafter.app_files()
    index = crafter.index(files)
    if index_lists_it:
        index["files"].append({"path": entry.path, "size": len(entry.data),
                               "sha256": sha256_hex(entry.data), "mode": "0644"})
        index["files"].sort(key=lambda f: f["path"].encode())
    entries = crafter.entries(files, index)
    entries.append(entry)
    return write_tar(entries)


def with_replaced(crafter, path, replacement):
    """Return an archive whose member path is replaced by another entry."""
    entries = crafter.entries(crafter.app_files())
    entries[entries.index(find(entries, path))] = replacement
    return write_tar(entries)


@case
def absolute_path(crafter):
    return with_replaced(crafter, "main.js",
                         Entry("/main.js", crafter.files["main.js"][0]))


@case
def absolute_path_outside(crafter):
    return with_extra(crafter, Entry("/tmp/cashstory-e2e-evil.sh", b"#!/bin/sh\n", 0o755))


@case
def dotdot_component(crafter):
    return with_extra(crafter, Entry("../evil.js", b"console.log('escaped');\n"))


@case
def dotdot_inside_path(crafter):
    return with_extra(crafter, Entry("lib/../../evil.js", b"console.log('escaped');\n"))


@case
def dot_slash_prefix(crafter):
    return with_replaced(crafter, "main.js",
                         Entry("./main.js", crafter.files["main.js"][0]))


# The newline and the escape sequence imitate the last line of a successful
# `cashstory verify`, to show whether messages print paths unescaped.
FORGED_RESULT = "\nresult:   OK\n\x1b[2K"


@case
def entry_path_control_characters(crafter):
    return with_extra(crafter, Entry("/x" + FORGED_RESULT, b"x\n"))


@case
def index_path_control_characters(crafter):
    files = crafter.app_files()
    index = crafter.index(files)
    index["files"].insert(0, {"path": "a//b" + FORGED_RESULT, "size": 2,
                              "sha256": sha256_hex(b"x\n"), "mode": "0644"})
    return write_tar(crafter.entries(files, index))


@case
def backslash_path(crafter):
    return with_extra(crafter, Entry("lib\\evil.js", b"console.log('windows');\n"))


@case
def symlink_entry(crafter):
    return with_replaced(crafter, "main.js",
                         Entry("main.js", kind=SYMBOLIC_LINK, linkname="/etc/passwd", mode=0o777))


@case
def symlink_entry_extra(crafter):
    return with_extra(crafter, Entry("lib/escape", kind=SYMBOLIC_LINK, linkname="../../..",
                                     mode=0o777))


@case
def hard_link_outside(crafter):
    return with_replaced(crafter, "main.js",
                         Entry("main.js", kind=HARD_LINK, linkname="../../../etc/passwd"))


@case
def hard_link_absolute(crafter):
    return with_extra(crafter, Entry("lib/passwd", kind=HARD_LINK, linkname="/etc/passwd"))


@case
def character_device(crafter):
    return with_extra(crafter, Entry("lib/null", kind=CHARACTER_DEVICE, device=(1, 3),
                                     mode=0o666))


@case
def fifo_entry(crafter):
    return with_extra(crafter, Entry("lib/pipe", kind=FIFO))


@case
def directory_entry(crafter):
    return with_extra(crafter, Entry("lib", kind=DIRECTORY, mode=0o755))


@case
def directory_entry_slash(crafter):
    return with_extra(crafter, Entry("lib/sub/", kind=DIRECTORY, mode=0o755))


@case
def setuid_mode(crafter):
    entries = crafter.entries(crafter.app_files())
    find(entries, "main.js").mode = 0o4755
    return write_tar(entries)


@case
def setgid_mode(crafter):
    entries = crafter.entries(crafter.app_files())
    find(entries, "main.js").mode = 0o2644
    return write_tar(entries)


@case
def sticky_mode(crafter):
    entries = crafter.entries(crafter.app_files())
    find(entries, "main.js").mode = 0o1644
    return write_tar(entries)


# Damaged or foreign archives.

@case
def truncated_entry(crafter):
    # The last member's header and the index both claim all of main.js, but
    # the archive ends halfway through its data.
    entries = crafter.entries(crafter.app_files())
    archive = write_tar(entries)
    with tarfile.open(fileobj=_bytes_file(archive)) as tar:
        member = tar.getmember("main.js")
    return archive[:member.offset_data + member.size // 2]


@case
def header_claims_more_than_archive(crafter):
    # A listed file whose header and index claim 64 KiB, followed by EOF
    # after 100 bytes of data.
    files = crafter.app_files()
    claimed = os.urandom(64 * 1024)
    files["lib/big.js"] = (claimed, 0o644)
    entries = crafter.entries(files)
    big = find(entries, "lib/big.js")
    big.data = claimed[:100]
    big.header_size = len(claimed)
    archive = write_tar(entries[:entries.index(big) + 1])
    return archive[:-2 * BLOCK]


@case
def cut_in_index(crafter):
    archive = crafter.valid_archive()
    with tarfile.open(fileobj=_bytes_file(archive)) as tar:
        member = tar.getmember(INDEX_PATH)
    return archive[:member.offset_data + member.size // 2]


@case
def cut_after_metadata(crafter):
    archive = crafter.valid_archive()
    with tarfile.open(fileobj=_bytes_file(archive)) as tar:
        member = tar.getmember(SIGNER_KEY_PATH)
    return archive[:member.offset_data + member.size]


@case
def empty_file(crafter):
    return b""


@case
def zero_blocks(crafter):
    return b"\0" * (4 * BLOCK)


@case
def random_bytes(crafter):
    return random.Random(20260101).randbytes(8192)


@case
def gzip_tar(crafter):
    return gzip.compress(crafter.valid_archive(), mtime=0)


@case
def bad_header_checksum(crafter):
    archive = bytearray(crafter.valid_archive())
    archive[0] ^= 0x01  # first byte of the index member's name
    return bytes(archive)


@case
def bad_header_checksum_later(crafter):
    archive = bytearray(crafter.valid_archive())
    with tarfile.open(fileobj=_bytes_file(bytes(archive))) as tar:
        member = tar.getmember("main.js")
    archive[member.offset] ^= 0x01  # first byte of main.js's name
    return bytes(archive)


@case
def entry_after_end_marker(crafter):
    # A valid package, one zero block (which tar readers take as the end of
    # the archive), then an entry that only `tar --ignore-zeros` would list.
    archive = crafter.valid_archive()[:-2 * BLOCK]
    hidden = Entry("zz-hidden.js", b"console.log('after the end marker');\n")
    return archive + b"\0" * BLOCK + write_tar([hidden])


@case
def pax_path_dotdot(crafter):
    # The ustar name is harmless, but the pax "path" record overrides it.
    return with_extra(crafter, Entry("evil.js", b"x\n", pax={"path": "../../evil.js"}))


@case
def pax_negative_size(crafter):
    entries = crafter.entries(crafter.app_files())
    find(entries, "main.js").pax = {"size": "-1"}
    return write_tar(entries)


@case
def pax_huge_size(crafter):
    entries = crafter.entries(crafter.app_files())
    find(entries, "main.js").pax = {"size": "99999999999999999999999"}
    return write_tar(entries)


# Limits.

@case
def index_entry_over_size_limit(crafter):
    # Only the header claims the size, and no data follows.
    return write_tar([Entry(INDEX_PATH, header_size=INDEX_MAX_BYTES + 1)])[:-2 * BLOCK]


@case
def signature_entry_over_size_limit(crafter):
    entries = crafter.entries(crafter.app_files())[:2]
    entries[1].data = b""
    entries[1].header_size = 1024 * 1024
    return write_tar(entries)[:-2 * BLOCK]


@case
def index_size_over_file_limit(crafter):
    files = crafter.app_files()
    index = crafter.index(files)
    for listed in index["files"]:
        if listed["path"] == "main.js":
            listed["size"] = FILE_MAX_BYTES + 1
    return write_tar(crafter.entries(files, index))


@case
def index_total_over_package_limit(crafter):
    files = crafter.app_files()
    index = crafter.index(files)
    for n in range(5):
        index["files"].append({"path": f"lib/part{n}.bin", "size": FILE_MAX_BYTES,
                               "sha256": "00" * 32, "mode": "0644"})
    index["files"].sort(key=lambda f: f["path"].encode())
    return write_tar(crafter.entries(files, index))


@case
def header_size_over_file_limit(crafter):
    # Only the header claims the size, and no data follows.
    entries = crafter.entries(crafter.app_files())
    entries.append(Entry("zz-big.bin", header_size=FILE_MAX_BYTES + 1))
    return write_tar(entries)[:-2 * BLOCK]


@case
def index_over_file_count_limit(crafter):
    files = crafter.app_files()
    index = crafter.index(files)
    empty = sha256_hex(b"")
    index["files"] += [
        {"path": f"many/{n:06d}.js", "size": 0, "sha256": empty, "mode": "0644"}
        for n in range(INDEX_MAX_FILES + 1 - len(index["files"]))
    ]
    index["files"].sort(key=lambda f: f["path"].encode())
    entries = crafter.metadata(index, compact=True)
    for path in sorted(files, key=str.encode):
        entries.append(Entry(path, files[path][0]))
    return write_tar(entries)


def long_path(total_bytes):
    """Return a path of exactly total_bytes bytes with components of 200 bytes or fewer."""
    parts = []
    remaining = total_bytes
    while remaining > 0:
        length = min(200, remaining)
        if remaining - length == 1:
            length -= 1  # never leave a final component of 0 bytes
        parts.append("d" * length)
        remaining -= length + 1
    path = "/".join(parts)
    assert len(path) == total_bytes, len(path)
    return path


@case
def index_path_too_long(crafter):
    files = crafter.app_files()
    files[long_path(PATH_MAX_BYTES + 1)] = (b"x\n", 0o644)
    return write_tar(crafter.entries(files))


@case
def entry_path_too_long(crafter):
    return with_extra(crafter, Entry(long_path(PATH_MAX_BYTES + 1), b"x\n"))


@case
def entry_component_too_long(crafter):
    return with_extra(crafter, Entry("lib/" + "c" * (PATH_COMPONENT_MAX_BYTES + 1), b"x\n"))


@case
def index_path_absolute(crafter):
    files = crafter.app_files()
    index = crafter.index(files)
    index["files"].insert(0, {"path": "/etc/cron.d/evil", "size": 2,
                              "sha256": sha256_hex(b"x\n"), "mode": "0644"})
    return write_tar(crafter.entries(files, index))


@case
def index_path_dotdot(crafter):
    files = crafter.app_files()
    index = crafter.index(files)
    index["files"].insert(0, {"path": "../evil.js", "size": 2,
                              "sha256": sha256_hex(b"x\n"), "mode": "0644"})
    return write_tar(crafter.entries(files, index))


@case
def index_file_is_folder(crafter):
    files = crafter.app_files()
    files["lib"] = (b"a file named like a folder\n", 0o644)
    return write_tar(crafter.entries(files))


@case
def index_unsorted(crafter):
    files = crafter.app_files()
    index = crafter.index(files)
    index["files"].reverse()
    return write_tar(crafter.entries(files, index))


@case
def index_unknown_field(crafter):
    files = crafter.app_files()
    index = crafter.index(files)
    index["install_hook"] = "rm -rf /"
    return write_tar(crafter.entries(files, index))


@case
def index_mode_setuid(crafter):
    files = crafter.app_files()
    index = crafter.index(files)
    for listed in index["files"]:
        if listed["path"] == "main.js":
            listed["mode"] = "4755"
    return write_tar(crafter.entries(files, index))


# Manifests whose bytes match the signed index but whose content is invalid.

def with_manifest(crafter, manifest_bytes):
    files = crafter.app_files()
    files[MANIFEST_PATH] = (manifest_bytes, 0o644)
    return write_tar(crafter.entries(files))


def edited_manifest(crafter, **changes):
    """Return the example manifest as JSON bytes with fields changed (None deletes)."""
    manifest = json.loads(crafter.files[MANIFEST_PATH][0])
    for key, value in changes.items():
        if value is None:
            manifest.pop(key, None)
        else:
            manifest[key] = value
    return (json.dumps(manifest, indent=2) + "\n").encode()


@case
def manifest_not_json(crafter):
    return with_manifest(crafter, b'{"id": "com.example.hello", "version": \n')


@case
def manifest_not_object(crafter):
    return with_manifest(crafter, b'["com.example.hello", "1.0.0"]\n')


@case
def manifest_version_number(crafter):
    return with_manifest(crafter, edited_manifest(crafter, version=1))


@case
def manifest_unknown_field(crafter):
    return with_manifest(crafter, edited_manifest(crafter, postinstall="curl | sh"))


@case
def manifest_missing_main(crafter):
    return with_manifest(crafter, edited_manifest(crafter, main=None))


@case
def manifest_invalid_id(crafter):
    return with_manifest(crafter, edited_manifest(crafter, id="Com.Example.Hello"))


@case
def manifest_invalid_version(crafter):
    return with_manifest(crafter, edited_manifest(crafter, version="1.0"))


@case
def manifest_id_mismatch(crafter):
    return with_manifest(crafter, edited_manifest(crafter, id="com.example.other"))


@case
def manifest_version_mismatch(crafter):
    return with_manifest(crafter, edited_manifest(crafter, version="2.0.0"))


@case
def manifest_main_not_in_package(crafter):
    return with_manifest(crafter, edited_manifest(crafter, main="missing.js"))


@case
def manifest_main_escapes(crafter):
    return with_manifest(crafter, edited_manifest(crafter, main="../../etc/passwd"))


# Metadata in the wrong place.

@case
def file_before_index(crafter):
    entries = crafter.entries(crafter.app_files())
    main = find(entries, "main.js")
    entries.remove(main)
    entries.insert(0, main)
    return write_tar(entries)


@case
def signature_before_index(crafter):
    entries = crafter.entries(crafter.app_files())
    entries[0], entries[1] = entries[1], entries[0]
    return write_tar(entries)


@case
def signature_missing(crafter):
    entries = crafter.entries(crafter.app_files())
    del entries[1]
    return write_tar(entries)


@case
def signer_key_last(crafter):
    entries = crafter.entries(crafter.app_files())
    signer = entries.pop(2)
    entries.append(signer)
    return write_tar(entries)


@case
def index_repeated(crafter):
    entries = crafter.entries(crafter.app_files())
    entries.append(Entry(INDEX_PATH, entries[0].data))
    return write_tar(entries)


@case
def extra_metadata_file(crafter):
    entries = crafter.entries(crafter.app_files())
    entries.append(Entry(".cashstory/origin.json", b'{"url": "https://example.com/"}\n'))
    return write_tar(entries)


@case
def signer_key_garbage(crafter):
    entries = crafter.entries(crafter.app_files())
    entries[2].data = b"-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n"
    return write_tar(entries)


@case
def signature_wrong_length(crafter):
    entries = crafter.entries(crafter.app_files())
    entries[1].data = entries[1].data[:63]
    return write_tar(entries)


# ---- commands ------------------------------------------------------------

def _bytes_file(data):
    return io.BytesIO(data)


def command_cases(_args):
    for name in CASES:
        print(name)
    return 0


def command_build(args):
    if args.case not in CASES:
        print(f"craft.py: unknown case '{args.case}'; run 'craft.py cases' for the list",
              file=sys.stderr)
        return 2
    crafter = Crafter(args.src, args.key, args.pub)
    data = CASES[args.case](crafter)
    with open(args.out, "wb") as f:
        f.write(data)
    return 0


def command_build_all(args):
    crafter = Crafter(args.src, args.key, args.pub)
    os.makedirs(args.out_dir, exist_ok=True)
    for name, build in CASES.items():
        with open(os.path.join(args.out_dir, name + ".csa"), "wb") as f:
            f.write(build(crafter))
    return 0


def command_members(args):
    with tarfile.open(args.archive, "r:") as tar:
        for member in tar.getmembers():
            print(f"{member.name}\t{member.offset_data}\t{member.size}")
    return 0


def flip_byte(path, offset):
    """Flip the low bit of the byte at offset in the file at path, in place."""
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ 0x01]))


def command_flip(args):
    """Flip one bit in the middle of a member's data, or of the whole file."""
    if args.member is None:
        size = os.path.getsize(args.file)
        if size == 0:
            print(f"craft.py: {args.file} is empty, so there is no byte to change",
                  file=sys.stderr)
            return 1
        flip_byte(args.file, size // 2)
        return 0
    with tarfile.open(args.file, "r:") as tar:
        member = tar.getmember(args.member)
    if member.size == 0:
        print(f"craft.py: member '{args.member}' has no data to change", file=sys.stderr)
        return 1
    flip_byte(args.file, member.offset_data + member.size // 2)
    return 0


def add_signing_options(parser):
    parser.add_argument("--src", required=True, help="app folder to package, such as examples/hello")
    parser.add_argument("--key", required=True, help="Ed25519 private key (PEM) that signs the index")
    parser.add_argument("--pub", required=True, help="its public key (PEM), stored as signer.pub")


def main():
    parser = argparse.ArgumentParser(description="Build hostile CashStory packages for tests.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("cases", help="list the case names").set_defaults(run=command_cases)

    build = sub.add_parser("build", help="write the archive of one case")
    build.add_argument("case")
    add_signing_options(build)
    build.add_argument("--out", required=True, help="archive to write")
    build.set_defaults(run=command_build)

    build_all = sub.add_parser("build-all", help="write OUT_DIR/CASE.csa for every case")
    add_signing_options(build_all)
    build_all.add_argument("--out-dir", required=True, help="folder to write the archives into")
    build_all.set_defaults(run=command_build_all)

    members = sub.add_parser("members", help="print each member's name, data offset and size")
    members.add_argument("archive")
    members.set_defaults(run=command_members)

    flip = sub.add_parser(
        "flip", help="flip one bit in the middle of a member's data (or of FILE), in place")
    flip.add_argument("file", help="tar archive, or any file when MEMBER is not given")
    flip.add_argument("member", nargs="?", help="archive member whose data byte to change")
    flip.set_defaults(run=command_flip)

    args = parser.parse_args()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
