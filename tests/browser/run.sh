#!/bin/sh
# Browser tests of the generated web marketplace: `tests/browser/run.sh SITE_URL`, where
# SITE_URL (ending in `/`) serves a site generated from a registry that holds the fixtures of
# index-tools/tests/site_browser.rs (which builds them, serves them and runs this script).
#
# Installs playwright-core from npm into a cache directory when it is missing (no browser is
# downloaded: it drives Debian's chromium, /usr/bin/chromium or $RATCHET_TEST_TOOL_CHROMIUM),
# then runs site.cjs. Screenshots of a failure go to $RATCHET_BROWSER_SHOTS (default: the cache
# directory's shots/). Exits non-zero when a check fails.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=${RATCHET_BROWSER_CACHE:-$here/../../target/browser-node}
# Node 18 (Debian 12's) is the oldest this version supports.
version=1.57.0
if [ ! -f "$cache/node_modules/playwright-core/package.json" ] ||
  ! grep -q "\"version\": \"$version\"" "$cache/node_modules/playwright-core/package.json"; then
  mkdir -p "$cache"
  npm install --prefix "$cache" --no-audit --no-fund --no-save --silent "playwright-core@$version" >&2
fi
export RATCHET_PLAYWRIGHT="$cache/node_modules/playwright-core"
export RATCHET_BROWSER_SHOTS="${RATCHET_BROWSER_SHOTS:-$cache/shots}"
exec node "$here/site.cjs" "$@"
