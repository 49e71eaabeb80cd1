#!/usr/bin/env python3
"""A stand-in for GitHub Actions' OIDC issuer, for deploy-demo.sh (python3 and openssl only).

Serves, on 127.0.0.1:
  - HTTPS (a CA made here; its PEM is written for the server's SWITCHBOARD_OIDC_CA_FILE):
    /.well-known/openid-configuration and /.well-known/jwks, with one RS256 key;
  - HTTP: GitHub's job-token endpoint (what ACTIONS_ID_TOKEN_REQUEST_URL points at): with the
    request token as bearer and `audience=…`, answers {"value": "<signed identity token>"}
    with GitHub-shaped claims for repository acme/store (id 123456789), environment production.

Usage: test-issuer.py WORKDIR   (writes WORKDIR/issuer.env with the URLs and the request token,
then serves until killed).
"""
import base64
import http.server
import json
import os
import secrets
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

work = sys.argv[1]


def openssl(*args):
    return subprocess.run(["openssl", *args], check=True, capture_output=True).stdout


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


p = lambda name: os.path.join(work, name)  # noqa: E731
openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=demo issuer CA",
        "-keyout", p("ca.key"), "-out", p("ca.pem"))
openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", p("tls.key"), "-out", p("tls.csr"))
with open(p("san.ext"), "w") as f:
    f.write("subjectAltName=IP:127.0.0.1\n")
openssl("x509", "-req", "-in", p("tls.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
        "-CAcreateserial", "-days", "1", "-extfile", p("san.ext"), "-out", p("tls.pem"))
openssl("genrsa", "-out", p("signing.key"), "2048")
modulus = openssl("rsa", "-in", p("signing.key"), "-noout", "-modulus").decode().strip().split("=", 1)[1]
jwk = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "demo-1",
       "n": b64(bytes.fromhex(modulus)), "e": b64((65537).to_bytes(3, "big"))}
request_token = secrets.token_hex(16)


def sign(claims):
    header = {"alg": "RS256", "typ": "JWT", "kid": jwk["kid"]}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", p("signing.key")],
                               input=signing_input.encode(), check=True, capture_output=True).stdout
    return f"{signing_input}.{b64(signature)}"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Issuer(Handler):
    def do_GET(self):
        if self.path == "/.well-known/openid-configuration":
            self.answer(200, {"issuer": issuer_url, "jwks_uri": issuer_url + "/.well-known/jwks"})
        elif self.path == "/.well-known/jwks":
            self.answer(200, {"keys": [jwk]})
        else:
            self.answer(404, {})


class JobTokens(Handler):
    def do_GET(self):
        if self.headers.get("authorization") != f"Bearer {request_token}":
            return self.answer(401, {"message": "bad request token"})
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        now = int(time.time())
        self.answer(200, {"value": sign({
            "iss": issuer_url, "aud": query["audience"][0], "iat": now, "nbf": now, "exp": now + 300,
            "jti": secrets.token_hex(16), "sub": "repo:acme/store:environment:production",
            "repository": "acme/store", "repository_id": "123456789",
            "repository_owner": "acme", "repository_owner_id": "987654",
            "ref": "refs/heads/main", "environment": "production", "run_id": "1",
            "job_workflow_ref": "acme/store/.github/workflows/deploy.yml@refs/heads/main",
        })})


https = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Issuer)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(p("tls.pem"), p("tls.key"))
https.socket = context.wrap_socket(https.socket, server_side=True)
issuer_url = f"https://127.0.0.1:{https.server_address[1]}"
jobs = http.server.ThreadingHTTPServer(("127.0.0.1", 0), JobTokens)
with open(p("issuer.env.tmp"), "w") as f:
    f.write(f"ISSUER_URL={issuer_url}\nISSUER_CA={p('ca.pem')}\n"
            f"ACTIONS_ID_TOKEN_REQUEST_URL=http://127.0.0.1:{jobs.server_address[1]}/token?api-version=2.0\n"
            f"ACTIONS_ID_TOKEN_REQUEST_TOKEN={request_token}\n")
os.rename(p("issuer.env.tmp"), p("issuer.env"))
threading.Thread(target=jobs.serve_forever, daemon=True).start()
https.serve_forever()
