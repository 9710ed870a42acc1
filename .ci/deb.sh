#!/usr/bin/env bash
# CI's proof of the Debian package, on a throw-away machine: build it the
# way the README says (cargo deb --deb-version "$(debian/version)"),
# lintian it, install it, check the user, files and permissions, run the
# installed binary the way the unit would and sign in with curl, build a
# later commit's package and install it with the same plain `apt install`
# (an upgrade to the newer version; the account, a session and an
# env-file edit survive), verify the unit with systemd-analyze where there
# is one, and purge it (the data goes).
# It installs and purges, so it refuses to run anywhere but CI. The README's
# instructions build (`just deb`) and install; they never run this.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${CI:-}" != true ]; then
    if dpkg-query -W -f '${Status}' auth-server 2>/dev/null | grep -q installed; then
        echo ".ci/deb.sh: auth-server is installed here and this proof would purge it and its database; it runs only in CI (CI=true). To build the package: cargo deb --deb-version \"\$(sh debian/version)\"" >&2
    else
        echo ".ci/deb.sh: this proof installs and purges the auth-server package; it runs only in CI (CI=true). To build the package: cargo deb --deb-version \"\$(sh debian/version)\"" >&2
    fi
    exit 2
fi
fail() { echo ".ci/deb.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root for dpkg"

tool=target/cargo-deb-tool/bin/cargo-deb
if [ ! -x "$tool" ]; then
    cargo install cargo-deb --locked --quiet --root target/cargo-deb-tool || fail "cannot install cargo-deb"
fi

# The README's build instruction (`just deb` is the same): it builds the
# release binary and packages it, debian/env included, from a clean clone,
# versioned by the commit (debian/version).
build_package() {
    rm -f target/debian/*.deb
    version=$(sh debian/version)
    "$tool" deb --quiet --deb-version "$version" >/dev/null || fail "cargo deb failed"
    deb=$(ls target/debian/auth-server_*.deb)
}
build_package
first_version=$version
echo "built $deb ($(du -h "$deb" | cut -f1))"

command -v lintian >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lintian >/dev/null
} || fail "cannot install lintian"
# Errors fail the build; the warnings left are explained in the README.
lintian --fail-on error --suppress-tags-from-file .ci/lintian-accepted "$deb"

dpkg-query -W auth-server >/dev/null 2>&1 && fail "auth-server is already installed on this machine; this proof starts from none"
apt-get install -y -qq "./$deb" >/dev/null || fail "apt install ./$deb failed"
check() { [ "$(stat -c "$2" "$1")" = "$3" ] || fail "$1: expected $2 = $3, got $(stat -c "$2" "$1")"; }
getent passwd auth-server >/dev/null || fail "no auth-server user"
check /usr/bin/auth-server %a 755
check /var/lib/auth-server %a 700
check /var/lib/auth-server %U auth-server
check /etc/auth-server/env %a 640
check /etc/auth-server/env %U:%G root:auth-server
[ -f /usr/share/doc/auth-server/README.md ] || fail "no README"
[ -f /usr/share/doc/auth-server/copyright ] || fail "no copyright file"
unit=$(dpkg -L auth-server | grep 'systemd/system/auth-server.service$') || fail "no unit"
grep -q '^EnvironmentFile=/etc/auth-server/env$' "$unit" || fail "unit has no EnvironmentFile"
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify "$unit" || fail "systemd-analyze verify failed"
fi

# An operator's edit: another port.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -i "s|^PORT=8080$|PORT=$port|" /etc/auth-server/env

work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
server=
run_installed() {
    runuser -u auth-server -- /usr/bin/auth-server --env-file /etc/auth-server/env >"$work/out" 2>"$work/log" &
    server=$!
    for _ in $(seq 100); do grep -q listening "$work/out" && return; sleep 0.1; done
    cat "$work/log" >&2
    fail "the installed server did not start"
}
# SIGTERM to the server itself (runuser waits for it and passes on its
# exit code, which must be 0: a clean stop).
stop_installed() {
    pkill -TERM -u auth-server -x auth-server || fail "no server to stop"
    wait "$server" || fail "the server did not stop cleanly"
    server=
}
api="http://127.0.0.1:$port"
json='Content-Type: application/json'
password="correct horse battery staple"

run_installed
curl -sf -o /dev/null "$api/api/register" -H "$json" \
    -d "{\"username\":\"alice\",\"email\":\"alice@example.com\",\"password\":\"$password\"}" || fail "register"
curl -sf -c "$work/jar" -o /dev/null "$api/api/login" -H "$json" -d "{\"username\":\"alice\",\"password\":\"$password\"}" || fail "login"
curl -sf -b "$work/jar" "$api/api/user" | grep -q '"username":"alice"' || fail "GET /api/user"
runuser -u auth-server -- /usr/bin/auth-server --env-file /etc/auth-server/env admin users | grep -q alice \
    || fail "admin users does not see the service's database"
stop_installed
check /var/lib/auth-server/auth.db %a 600

# A later commit (an empty one in this throw-away clone, a minute later),
# then the build and install instructions again, as after a `git pull`:
# a plain `apt install` upgrades, and the database, the session and the
# edit stay.
GIT_COMMITTER_DATE="$(date -u -d '+1 minute' '+%Y-%m-%dT%H:%M:%SZ')" \
    git -c user.name=ci -c user.email=ci@localhost commit -q --allow-empty -m "a later build (CI's upgrade proof)" \
    || fail "cannot make a later commit in the CI clone"
build_package
git reset -q --hard HEAD~1
dpkg --compare-versions "$version" gt "$first_version" || fail "$version does not sort after $first_version"
apt-get install -y -qq "./$deb" >/dev/null || fail "apt install of the later build failed"
[ "$(dpkg-query -W -f '${Version}' auth-server)" = "$version" ] \
    || fail "the later build did not replace $first_version (installed: $(dpkg-query -W -f '${Version}' auth-server))"
grep -q "^PORT=$port$" /etc/auth-server/env || fail "the env file edit was lost in the upgrade"
run_installed
curl -sf -b "$work/jar" "$api/api/user" | grep -q '"username":"alice"' || fail "the session did not survive the upgrade"
stop_installed

# Purge: the data goes.
dpkg -P auth-server >/dev/null
[ ! -e /var/lib/auth-server ] || fail "/var/lib/auth-server survived the purge"
[ ! -e /usr/bin/auth-server ] || fail "/usr/bin/auth-server survived the purge"
[ ! -e /etc/auth-server/env ] || fail "/etc/auth-server/env survived the purge"
echo "deb: built $first_version, lintian clean of errors, installed, ran, upgraded to $version (data kept), purged"
