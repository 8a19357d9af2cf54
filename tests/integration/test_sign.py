"""Work-signing JWTs (spec 11) against PyJWT, an independent implementation.

Tokens our C code makes (through tests/unit/sign/mktoken) must verify with
PyJWT and have exactly upstream's header and claims; tokens PyJWT makes must
get the answers upstream's VerifySignature (golang-jwt v4) gives.  Keys are
made fresh with openssl for every run.
"""
import base64
import json
import os
import re
import subprocess
import time

import pytest

from conftest import BUILD

jwt = pytest.importorskip("jwt")

MKTOKEN = os.path.join(BUILD, "tests", "unit", "sign", "mktoken")
BAD = "could not verify signature: "

pytestmark = pytest.mark.skipif(not os.path.exists(MKTOKEN), reason="mktoken not built")


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    k = {name: str(d / f"{name}.pem") for name in ["pkcs1", "pkcs8", "pub", "other", "other_pub"]}
    openssl("genrsa", "-traditional", "-out", k["pkcs1"], "2048")
    openssl("pkcs8", "-topk8", "-nocrypt", "-in", k["pkcs1"], "-out", k["pkcs8"])
    openssl("rsa", "-in", k["pkcs1"], "-pubout", "-out", k["pub"])
    openssl("genrsa", "-out", k["other"], "2048")
    openssl("rsa", "-in", k["other"], "-pubout", "-out", k["other_pub"])
    return k


def mktoken(*args):
    r = subprocess.run([MKTOKEN, *args], capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout.strip()


def segment(token, i):
    s = token.split(".")[i]
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)).decode()


@pytest.mark.parametrize("form", ["pkcs1", "pkcs8"])
def test_our_tokens_verify_with_pyjwt(keys, form):
    before = int(time.time())
    rc, token = mktoken("sign", keys[form], "node-b")
    after = int(time.time())
    assert rc == 0, token
    assert "=" not in token
    assert segment(token, 0) == '{"alg":"RS512","typ":"JWT"}'
    claims = segment(token, 1)
    m = re.fullmatch(r'\{"aud":\["node-b"\],"exp":(\d+)\}', claims)
    assert m, claims
    assert before + 300 <= int(m.group(1)) <= after + 300
    pub = open(keys["pub"]).read()
    decoded = jwt.decode(token, pub, algorithms=["RS512"], audience="node-b")
    assert decoded == {"aud": ["node-b"], "exp": int(m.group(1))}
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, pub, algorithms=["RS512"], audience="node-c")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, open(keys["other_pub"]).read(), algorithms=["RS512"], audience="node-b")
    assert mktoken("verify", keys["pub"], token, "node-b") == (0, "ok")


def test_lifetime_and_escaping(keys):
    rc, token = mktoken("sign", keys["pkcs1"], 'a<b>&"c', str(3600 * 10**9))
    assert rc == 0, token
    claims = segment(token, 1)
    assert claims.startswith('{"aud":["a\\u003cb\\u003e\\u0026\\"c"],"exp":')
    exp = json.loads(claims)["exp"]
    assert abs(exp - (time.time() + 3600)) < 5
    decoded = jwt.decode(token, open(keys["pub"]).read(), algorithms=["RS512"], audience='a<b>&"c')
    assert decoded["aud"] == ['a<b>&"c']


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"])
def test_pyjwt_tokens_verify_with_us(keys, alg):
    now = int(time.time())
    key = open(keys["pkcs8"]).read()
    good = {"aud": ["node-b"], "exp": now + 60, "iat": now - 5, "nbf": now - 5, "iss": "x"}
    token = jwt.encode(good, key, algorithm=alg)
    assert mktoken("verify", keys["pub"], token, "node-b") == (0, "ok")
    assert mktoken("verify", keys["pub"], token, "node-c") == (1, "token audience did not match node ID")
    assert mktoken("verify", keys["other_pub"], token, "node-b") == (1, BAD + "crypto/rsa: verification error")


def test_pyjwt_claims(keys):
    now = int(time.time())
    key = open(keys["pkcs1"]).read()

    def verify(claims, alg="RS512", k=key):
        return mktoken("verify", keys["pub"], jwt.encode(claims, k, algorithm=alg), "node-b")

    assert verify({"aud": "node-b"}) == (0, "ok")
    rc, out = verify({"aud": "node-b", "exp": now - 10})
    assert rc == 1 and re.fullmatch(re.escape(BAD) + r"token is expired by 1\d(\.\d+)?s", out), out
    assert verify({"aud": "node-b", "nbf": now + 60}) == (1, BAD + "token is not valid yet")
    assert verify({"aud": "node-b", "iat": now + 60}) == (1, BAD + "token used before issued")
    assert verify({"aud": ["x", "y"]}) == (1, "token audience did not match node ID")
    assert verify({"aud": "node-b"}, "HS256", "secret") == (1, BAD + "key is of invalid type")
    assert verify({"aud": "node-b"}, "none", None) == (1, BAD + "'none' signature type is not allowed")


def test_refusals(keys, tmp_path):
    assert mktoken("verify", keys["pub"], "", "node-b") == (1, BAD + "signature is empty")
    assert mktoken("verify", keys["pub"], "a.b", "node-b") == (
        1, BAD + "token contains an invalid number of segments")
    assert mktoken("verify", keys["pkcs1"], "a.b.c", "node-b") == (
        1, "public key file does not contain public key data")
    assert mktoken("sign", keys["pub"], "node-b") == (1, "private key file does not contain private key data")
    both = tmp_path / "both.pem"
    both.write_text(open(keys["pkcs1"]).read() + open(keys["other"]).read())
    assert mktoken("sign", str(both), "node-b") == (1, "private key file should contain exactly one item")
    assert mktoken("sign", str(tmp_path / "missing.pem"), "node-b") == (
        1, f"open {tmp_path / 'missing.pem'}: no such file or directory")
