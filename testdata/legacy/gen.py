#!/usr/bin/python3
"""Writes testdata/legacy_vectors.json: password hashes made by the real
libraries of the frameworks a service migrates from, for legacy_test.go.
Run by hand, never by CI, from the repository root:

    apt-get install python3-passlib python3-django python3-werkzeug python3-argon2 python3-bcrypt
    (cd testdata/legacy/node && npm ci)
    WERKZEUG3_SECURITY=/path/to/werkzeug/src/werkzeug/security.py WERKZEUG3_VERSION=3.1.8 \
        /usr/bin/python3 testdata/legacy/gen.py

It needs Debian's system python (/usr/bin/python3, where apt installs the
packages; a pyenv python3 on PATH lacks them). Debian 12 ships Werkzeug
2.2, which predates Werkzeug's scrypt and its 1,000,000-iteration PBKDF2
default: WERKZEUG3_SECURITY names security.py from a Werkzeug 3.x source
tree (it imports only the standard library), which is loaded as a module
and never committed. Without it those vectors are left out. The Node
vectors come from testdata/legacy/node/gen.mjs (Better Auth, node-argon2,
bcryptjs, pinned by its package-lock.json).

Every hash is made with a random salt, so a new run changes the file; the
passwords and the expectations do not change."""
import hashlib
import importlib.util
import json
import os
import subprocess
import sys

import argon2
import bcrypt
import django
import passlib
import werkzeug
from django.conf import settings
from passlib.hash import bcrypt as passlib_bcrypt
from passlib.hash import pbkdf2_sha256 as passlib_pbkdf2_sha256
from werkzeug.security import generate_password_hash as werkzeug2_hash

settings.configure(PASSWORD_HASHERS=[
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
])
django.setup()
from django.contrib.auth.hashers import PBKDF2PasswordHasher, check_password, make_password  # noqa: E402

ASCII = "correct horse battery staple"
UNICODE = "pässwörd 🔑"
LONG = "a" * 64 + "-tail-past-byte-72-is-ignored"  # 93 bytes: bcrypt reads 72
assert len(LONG.encode()) > 72

werkzeug_version = getattr(werkzeug, "__version__", None)
if werkzeug_version is None:
    from importlib.metadata import version
    werkzeug_version = version("werkzeug")

vectors = []


def add(source, legacy, password, hash, valid=True, truncation=False):
    vectors.append({"source": source, "legacy": legacy, "truncation": truncation,
                    "password": password, "hash": hash, "valid": valid})


# Django: every hasher it ships for passwords, at its defaults, plus the
# iteration counts later Django releases write (6.0: 1,200,000).
dj = f"Django {django.get_version()}"
for pw in (ASCII, UNICODE):
    for hasher in ("pbkdf2_sha256", "argon2", "bcrypt_sha256", "bcrypt"):
        h = make_password(pw, hasher=hasher)
        assert check_password(pw, h)
        add(f"{dj} make_password(hasher={hasher!r})", "DjangoHashers", pw, h)
h = PBKDF2PasswordHasher().encode(ASCII, PBKDF2PasswordHasher().salt(), iterations=1_200_000)
add(f"{dj} PBKDF2PasswordHasher.encode(iterations=1200000), Django 6.0's default", "DjangoHashers", ASCII, h)
h = make_password(LONG, hasher="bcrypt_sha256")
add(f"{dj} make_password(hasher='bcrypt_sha256'), over 72 bytes (pre-hashed: no truncation)", "DjangoHashers", LONG, h)
h = make_password(LONG, hasher="bcrypt")
assert check_password(LONG[:72], h)
add(f"{dj} make_password(hasher='bcrypt'), over 72 bytes", "DjangoHashers", LONG, h, truncation=True)
add(f"{dj} make_password(None): the unusable-password marker", "DjangoHashers", ASCII, make_password(None), valid=False)

# Werkzeug 2.2 (Debian's): pbkdf2 at its default 260,000 iterations.
wz2 = f"Werkzeug {werkzeug_version}"
for pw in (ASCII, UNICODE):
    add(f"{wz2} generate_password_hash(method='pbkdf2:sha256')", "WerkzeugHashes", pw, werkzeug2_hash(pw, "pbkdf2:sha256"))
add(f"{wz2} generate_password_hash(method='pbkdf2:sha512')", "WerkzeugHashes", ASCII, werkzeug2_hash(ASCII, "pbkdf2:sha512"))
wz3_path = os.environ.get("WERKZEUG3_SECURITY")
wz3_version = None
if wz3_path:
    spec = importlib.util.spec_from_file_location("werkzeug3_security", wz3_path)
    wz3 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(wz3)
    wz3_version = (f"{os.environ.get('WERKZEUG3_VERSION', '3.x')}: its security.py"
                   f" (DEFAULT_PBKDF2_ITERATIONS={wz3.DEFAULT_PBKDF2_ITERATIONS})")
    for pw in (ASCII, UNICODE):
        h = wz3.generate_password_hash(pw)  # scrypt:32768:8:1
        assert wz3.check_password_hash(h, pw)
        add(f"Werkzeug 3 generate_password_hash() (scrypt default)", "WerkzeugHashes", pw, h)
    add("Werkzeug 3 generate_password_hash(method='scrypt:16384:8:2')", "WerkzeugHashes", ASCII,
        wz3.generate_password_hash(ASCII, "scrypt:16384:8:2"))
    add("Werkzeug 3 generate_password_hash(method='pbkdf2') (1,000,000 iterations)", "WerkzeugHashes", ASCII,
        wz3.generate_password_hash(ASCII, "pbkdf2"))

# passlib: pbkdf2_sha256 at its default 29,000 rounds, and bcrypt, which it
# truncates silently at 72 bytes.
pl = f"passlib {passlib.__version__}"
for pw in (ASCII, UNICODE):
    add(f"{pl} pbkdf2_sha256.hash", "PasslibPBKDF2", pw, passlib_pbkdf2_sha256.hash(pw))
add(f"{pl} pbkdf2_sha256.using(rounds=600000).hash", "PasslibPBKDF2", ASCII, passlib_pbkdf2_sha256.using(rounds=600000).hash(ASCII))
h = passlib_bcrypt.using(rounds=10).hash(LONG)
assert passlib_bcrypt.verify(LONG[:72], h)
add(f"{pl} bcrypt.using(rounds=10).hash (python bcrypt {bcrypt.__version__}), over 72 bytes", "", LONG, h, truncation=True)
h = bcrypt.hashpw(LONG.encode(), bcrypt.gensalt(10)).decode()
add(f"python bcrypt {bcrypt.__version__} hashpw, over 72 bytes", "", LONG, h, truncation=True)

# argon2-cffi (behind pwdlib and fastapi-users): PHC argon2id, m,t,p order.
a2 = f"argon2-cffi {argon2.__version__}"
for pw in (ASCII, UNICODE):
    add(f"{a2} PasswordHasher().hash", "", pw, argon2.PasswordHasher().hash(pw))

node_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")
node = json.loads(subprocess.run(["node", "gen.mjs"], cwd=node_dir, check=True, capture_output=True).stdout)
for v in node["vectors"]:
    v.setdefault("truncation", False)
vectors += node["vectors"]

versions = {"python": sys.version.split()[0], "Django": django.get_version(), "Werkzeug (Debian)": werkzeug_version,
            "passlib": passlib.__version__, "bcrypt (python)": bcrypt.__version__, "argon2-cffi": argon2.__version__,
            "openssl (hashlib)": __import__("ssl").OPENSSL_VERSION}
if wz3_version:
    versions["Werkzeug 3"] = wz3_version
versions.update(node["versions"])
out = {"generator": "testdata/legacy/gen.py", "versions": versions, "vectors": vectors}
with open("testdata/legacy_vectors.json", "w") as f:
    json.dump(out, f, indent=1, ensure_ascii=False)
    f.write("\n")
print(f"wrote {len(vectors)} vectors", file=sys.stderr)
