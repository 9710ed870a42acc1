#!/usr/bin/env bash
# Token and passkey paths beside certified peers, in one run on one machine:
# panva's oidc-provider and @simplewebauthn/server, each in a folder of its
# own with its driver scripts (an oidc_provider/ and a simplewebauthn/
# folder under PEERS, `npm ci` done in each, and a Python with requests,
# joserfc and cryptography first on PATH). Each binary given is timed with
# the same client code: full code flows, refresh grants and userinfo (server
# CPU per operation), then passkey sign-ins per algorithm, options + login,
# whose server CPU is read from /proc around the timed sign-ins only (as the
# driver reads the peer's). Loopback only, bounded.
#
#   bash benches/peers.sh PEERS BINARY...
set -euo pipefail
peers=$(cd "$1" && pwd); shift
binaries=()
for binary in "$@"; do binaries+=("$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"); done

echo "## oidc-provider"
(cd "$peers/oidc_provider" && python3 bench.py | grep -E "node CPU|RSS after load")
for binary in "${binaries[@]}"; do
    echo "## $binary"
    (cd "$peers/oidc_provider" && python3 bench_auth_server.py "$binary" 5 | grep -E "CPU|RSS")
done

echo "## SimpleWebAuthn"
(cd "$peers/simplewebauthn" && python3 drive.py --seconds 5 | grep -E "node CPU|RSS after load")
for binary in "${binaries[@]}"; do
    for alg in ES256 EdDSA RS256; do
        work=$(mktemp -d)
        PORT=18666 HOST=127.0.0.1 DATABASE_PATH="$work/auth.db" BCRYPT_COST=4 REGISTRATIONS_PER_HOUR=0 \
            PASSKEY_RP_ID=localhost PASSKEY_ORIGINS=http://localhost:3000 CORS_ORIGINS=http://localhost:3000 \
            PASSKEY_OPTIONS_PER_MINUTE=1000000 "$binary" >/dev/null 2>&1 &
        pid=$!
        sleep 0.5
        # The server's CPU is read when the driver says its untimed sign-ins
        # are done and again when it reports the timed ones, so start-up,
        # registrations and warm-up stay out, as they do for the peer.
        ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
        before=0
        while IFS= read -r line; do
            case "$line" in
                *"untimed logins"*) before=$(ticks) ;;
                *"login each: "*)
                    spent=$(($(ticks) - before))
                    logins=$(echo "$line" | grep -o "login each: [0-9]*" | grep -o "[0-9]*$")
                    echo "$binary $alg: $logins timed sign-ins; server CPU $(python3 -c "print(round($spent * 1000 / $(getconf CLK_TCK) / $logins, 3))") ms each"
                    ;;
            esac
        done < <(cd "$peers/simplewebauthn" && python3 -u drive.py --url http://127.0.0.1:18666 --seconds 5 --time "$alg")
        kill "$pid"; wait "$pid" 2>/dev/null || true
        rm -rf "$work"
    done
done
