#!/usr/bin/env bash
# The README's test command (and CI's, through .ci/run): installs the missing system packages
# (scripts/setup.sh), runs every test of the workspace, then says how many tests skipped
# themselves and why. Exits with cargo test's status.
#
# No test skips in silence: a test whose system tool (nginx, openssl, minisign) is missing fails,
# naming the package, unless RATCHET_TEST_SKIP lists its group (RATCHET_TEST_SKIP=nginx,minisign
# or all); then it records the skip in the log below and passes (tests/common/tools.rs).
# Arguments go to cargo test: scripts/test.sh --test trust, scripts/test.sh -- --nocapture.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

# Absolute: tests run in their package's directory (index-tools/ for index-tools' tests).
target=${CARGO_TARGET_DIR:-target}
case $target in /*) ;; *) target=$PWD/$target ;; esac
export RATCHET_TEST_SKIP_LOG="$target/tmp/ratchet-skipped-tests.txt"
mkdir -p "$(dirname "$RATCHET_TEST_SKIP_LOG")"
rm -f "$RATCHET_TEST_SKIP_LOG"

status=0
cargo test --workspace "$@" || status=$?

if [ -s "$RATCHET_TEST_SKIP_LOG" ]; then
  echo
  echo "skipped: $(wc -l <"$RATCHET_TEST_SKIP_LOG" | tr -d " ") test(s), because RATCHET_TEST_SKIP=${RATCHET_TEST_SKIP:-} and their tools are missing (group: test: reason):"
  sort "$RATCHET_TEST_SKIP_LOG" | sed 's/^/  /'
fi
if [ "$status" -ne 0 ]; then
  echo "scripts/test.sh: cargo test failed (exit $status)" >&2
fi
exit "$status"
