#!/usr/bin/python3
"""Writes testdata/foreign_tokens.json: tokens minted by PyJWT (Debian's
python3-jwt) with the keys in testdata/, in the shape this package issues,
for token_test.go's interop tests. The keys are test fixtures, never secrets.

Run from the repository root: python3 testdata/gen_vectors.py
(needs python3-jwt and python3-cryptography)."""
import json
import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECRET = open("testdata/hs256.secret", "rb").read().strip()
LABEL = b"github.com/keygate/auth v1 refresh token key"
refresh_secret = HKDF(algorithm=hashes.SHA256(), length=len(SECRET), salt=None, info=LABEL).derive(SECRET)

def private(name):
    return serialization.load_pem_private_key(open(f"testdata/{name}.pem", "rb").read(), password=None)

claims = {"sub": "user-42", "iat": 1700000000, "exp": 1700000900, "jti": "fixed-jti-0001",
          "iss": "https://issuer.example", "aud": "https://api.example", "type": "access",
          "email": "ada@example.com", "roles": ["admin", "user"], "ver": 3}
refresh = dict(claims, type="refresh", aud="https://api.example#refresh", exp=1700604800)

out = []
for alg, key, kid in [("HS256", SECRET, "hs"), ("RS256", private("rsa2048"), "rs"),
                      ("PS256", private("rsa2048"), "ps"), ("ES256", private("p256"), "es"),
                      ("EdDSA", private("ed25519"), "ed")]:
    out.append({"alg": alg, "kid": kid, "type": "access",
                "token": jwt.encode(claims, key, algorithm=alg, headers={"typ": "at+jwt", "kid": kid})})
out.append({"alg": "HS256", "kid": "hs", "type": "refresh",
            "token": jwt.encode(refresh, refresh_secret, algorithm="HS256", headers={"typ": "refresh+jwt", "kid": "hs"})})
json.dump({"generator": f"PyJWT {jwt.__version__}", "claims": claims, "tokens": out},
          open("testdata/foreign_tokens.json", "w"), indent=1)
