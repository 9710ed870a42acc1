"""A relying party built on Authlib (PyPI), against the real binary: for an
RS256 confidential client and an ES256 public client, the authorization
code flow with PKCE, the ID token validated against the JWKS (signature,
iss, aud, nonce, exp), userinfo, a refresh, and a reused code refused;
then prompt=none (signed in and out), prompt=login (a new sign-in, and
auth_time is its time), and a group removed after the grant (userinfo
and refresh refused).

    python3 e2e/oidc_client.py target/debug/auth-server

(.ci/run runs it in a virtualenv with authlib and requests.) It starts its
own server on a free port with a temporary database, and signs in as a
browser would (POST /api/login keeps the cookie) before following the
authorization request.
"""

import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, JsonWebToken

PASSWORD = "correct horse battery staple"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(binary):
    work = tempfile.mkdtemp(prefix="auth-server-authlib-")
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {"DATABASE_PATH": os.path.join(work, "auth.db"), "PUBLIC_URL": issuer, "BCRYPT_COST": "4"}
    server = subprocess.Popen([binary], env={**env, "HOST": "127.0.0.1", "PORT": str(port)},
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert "listening on" in server.stdout.readline()
        browser = requests.Session()
        made = browser.post(f"{issuer}/api/register", json={
            "username": "alice", "email": "alice@example.com", "password": PASSWORD})
        assert made.status_code == 201, made.text
        subprocess.run([binary, "admin", "group", "add", "alice", "family"], env=env, check=True,
                       capture_output=True)
        signed_in = browser.post(f"{issuer}/api/login", json={"username": "alice", "password": PASSWORD})
        assert signed_in.status_code == 200, signed_in.text
        meta = requests.get(f"{issuer}/.well-known/openid-configuration").json()
        assert meta["issuer"] == issuer
        for alg, public in (("RS256", False), ("ES256", True)):
            run_flow(binary, env, issuer, meta, browser, alg, public)
        print("authlib: RS256 confidential and ES256 public clients passed")
        run_prompts(binary, env, issuer, meta, browser)
        print("authlib: prompt=none, prompt=login and a removed group passed")
    finally:
        server.terminate()
        server.wait(timeout=10)


def run_flow(binary, env, issuer, meta, browser, alg, public):
    callback = f"https://app-{alg.lower()}.example.com/callback"
    args = [binary, "admin", "oidc-client", "add", f"authlib-{alg}", "--redirect-uri", callback, "--alg", alg]
    if public:
        args.append("--public")
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
    client_id = re.search(r"^client_id: (.+)$", out, re.M).group(1)
    secret_match = re.search(r"^client_secret: (.+)$", out, re.M)
    client_secret = secret_match.group(1) if secret_match else None

    client = OAuth2Session(
        client_id, client_secret, scope="openid profile email groups offline_access",
        redirect_uri=callback, code_challenge_method="S256",
        token_endpoint_auth_method="none" if public else "client_secret_basic")
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, state = client.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    answer = browser.get(url, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(callback + "?"), location
    assert f"state={state}" in location and "code=" in location

    token = client.fetch_token(meta["token_endpoint"], authorization_response=location,
                               code_verifier=verifier)
    assert token["token_type"].lower() == "bearer"
    keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"]).json())
    claims = JsonWebToken([alg]).decode(token["id_token"], keys, claims_options={
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": client_id},
        "nonce": {"essential": True, "value": nonce},
        "sub": {"essential": True},
    })
    claims.validate()
    assert claims.header["alg"] == alg
    assert claims["preferred_username"] == "alice"
    assert claims["groups"] == ["family"]

    info = client.get(meta["userinfo_endpoint"]).json()
    assert info["sub"] == claims["sub"] and info["preferred_username"] == "alice", info

    refreshed = client.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    again = JsonWebToken([alg]).decode(refreshed["id_token"], keys)
    assert again["sub"] == claims["sub"]

    # The same code a second time: refused, and the tokens it gave revoked.
    code = re.search(r"[?&]code=([^&]+)", location).group(1)
    data = {"grant_type": "authorization_code", "code": requests.utils.unquote(code),
            "redirect_uri": callback, "code_verifier": verifier}
    auth = None
    if public:
        data["client_id"] = client_id
    else:
        auth = (client_id, client_secret)
    reused = requests.post(meta["token_endpoint"], data=data, auth=auth)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant", reused.text
    revoked = requests.get(meta["userinfo_endpoint"],
                           headers={"Authorization": f"Bearer {refreshed['access_token']}"})
    assert revoked.status_code == 401, revoked.text
    print(f"authlib: {alg} ({'public' if public else 'confidential'}) ok")


def run_prompts(binary, env, issuer, meta, browser):
    callback = "https://family.example.com/callback"
    out = subprocess.run([binary, "admin", "oidc-client", "add", "family-app", "--redirect-uri", callback,
                          "--allowed-group", "family"], env=env, check=True, capture_output=True, text=True).stdout
    client_id = re.search(r"^client_id: (.+)$", out, re.M).group(1)
    client_secret = re.search(r"^client_secret: (.+)$", out, re.M).group(1)
    keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"]).json())

    def client():
        return OAuth2Session(client_id, client_secret, scope="openid profile offline_access",
                             redirect_uri=callback, code_challenge_method="S256")

    def start(session, **extra):
        verifier = secrets.token_urlsafe(48)
        url, _ = session.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, **extra)
        return url, verifier

    # prompt=none, signed in: a code, no page.
    app = client()
    url, verifier = start(app, prompt="none")
    answer = browser.get(url, allow_redirects=False)
    assert answer.headers["Location"].startswith(callback + "?code="), answer.headers["Location"]
    # prompt=none, signed out: login_required to the app.
    url, _ = start(client(), prompt="none")
    answer = requests.get(url, allow_redirects=False)
    assert "error=login_required" in answer.headers["Location"], answer.headers["Location"]

    # prompt=login: the sign-in page, a new sign-in, then the code; the ID
    # token's auth_time is the new sign-in's.
    app = client()
    url, verifier = start(app, prompt="login")
    answer = browser.get(url, allow_redirects=False)
    sign_in = answer.headers["Location"]
    assert sign_in.startswith(f"{issuer}/login?rd=") and sign_in.endswith("&prompt=login"), sign_in
    back = requests.utils.unquote(re.search(r"rd=([^&]+)", sign_in).group(1))
    again = browser.get(back, allow_redirects=False)
    assert again.headers["Location"].startswith(f"{issuer}/login?"), "the old session is not enough"
    before = int(time.time())
    assert browser.post(f"{issuer}/api/login", json={"username": "alice", "password": PASSWORD}).status_code == 200
    done = browser.get(back, allow_redirects=False)
    location = done.headers["Location"]
    assert location.startswith(callback + "?"), location
    token = app.fetch_token(meta["token_endpoint"], authorization_response=location, code_verifier=verifier)
    claims = JsonWebToken(["RS256"]).decode(token["id_token"], keys)
    assert claims["auth_time"] >= before, (claims["auth_time"], before)

    # A group removed after the grant: userinfo and refresh refuse.
    subprocess.run([binary, "admin", "group", "remove", "alice", "family"], env=env, check=True, capture_output=True)
    info = app.get(meta["userinfo_endpoint"])
    assert info.status_code == 401, info.text
    refused = requests.post(meta["token_endpoint"], data={"grant_type": "refresh_token",
                            "refresh_token": token["refresh_token"]}, auth=(client_id, client_secret))
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant", refused.text


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/debug/auth-server")
