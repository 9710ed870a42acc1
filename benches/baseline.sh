# Sourced by the scripts that measure this build beside another revision,
# after benches/lib.sh. start_baseline REV: builds REV (HEAD~1 if empty)
# into $base_binary and removes it again on exit.
# build_baseline REV: builds REV's release binary in a scratch worktree
# under $work (which the caller made) and prints the binary's path;
# remove_baseline takes the worktree away again (call it from the EXIT trap).
build_baseline() {
    git worktree add -q --detach "$work/base" "$1"
    (cd "$work/base" && CARGO_TARGET_DIR="$work/base-target" cargo build --release -q --bin auth-server)
    echo "$work/base-target/release/auth-server"
}

remove_baseline() {
    git worktree remove --force "$work/base" 2>/dev/null || true
}

start_baseline() {
    base_rev=${1:-HEAD~1}
    trap 'kill "${pids[@]}" 2>/dev/null || true; remove_baseline; rm -rf "$work"' EXIT
    base_binary=$(build_baseline "$base_rev")
}
