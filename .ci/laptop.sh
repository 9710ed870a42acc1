#!/usr/bin/env bash
# The README's "Try it on your laptop", run as written: the fenced block
# after the `laptop recipe` marker is extracted (never copied here), run
# from the repository's folder with bash -e, and its output checked for
# what each step promises. Needs caddy, python3, curl and oathtool; .ci/run
# installs them.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo ".ci/laptop.sh: $*" >&2; exit 1; }
for tool in caddy python3 curl oathtool; do
    command -v "$tool" >/dev/null || fail "needs $tool"
done

recipe=$(mktemp)
output=$(mktemp)
trap 'rm -f "$recipe" "$output"' EXIT
awk '/<!-- laptop recipe/ {found=1; next}
     found && /^```sh$/ {inside=1; next}
     inside && /^```$/ {exit}
     inside {print}' README.md >"$recipe"
[ -s "$recipe" ] || fail "no laptop recipe in README.md"

timeout 300 bash -eo pipefail "$recipe" >"$output" 2>&1 || { cat "$output" >&2; fail "the recipe failed"; }

expect() {
    grep -qE "$1" "$output" || { cat "$output" >&2; fail "expected $2"; }
}
expect '^[Ll]ocation: http://app\.localhost:9090/auth/login\?rd=http%3A%2F%2Fapp\.localhost%3A9090%2F' "a signed-out visit sent to the sign-in page with rd"
expect '"message":"Signed in\."' "the sign-in through Caddy"
expect '<title>Directory listing' "the app behind Caddy, signed in"
expect '"recovery_codes":\[' "two-factor login turned on"
expect '"code":"totp_required"' "the next sign-in asking for a code"
expect '^Subject: Reset your My laptop password$' "a reset mail naming the site"
expect '^http://app\.localhost:9090/auth/reset-password\?rd=http%3A%2F%2Fapp\.localhost%3A9090%2F#token=' "a reset link that leads back to the app"
expect '"message":"Your password is changed\. Sign in with the new one\."' "the reset through the mailed token"
echo "laptop: the README's recipe ran as written"
