#!/bin/sh
# Installs the system packages this project needs, and only those that are missing.
#
# The README's two commands (the main job and the tests) run this first. It is idempotent: on a
# ready machine it checks and says nothing (well under a second). What each package is for:
#   clang, lld, wasi-libc, libclang-rt-14-dev-wasm32  build the JavaScript engine and the test
#                                                     modules for wasm32-wasi
#   wabt                                              WAT tools used by the sandbox tests
#   nginx-light                                       a real web server for the registry tests
#   minisign                                          signature interoperability tests
#   ca-certificates                                   TLS roots for https registries
#
# On Debian and Ubuntu it uses apt-get (through sudo when not root). Elsewhere it prints what to
# install and exits non-zero. RATCHET_SETUP=skip turns it into a no-op (for machines you manage
# yourself).
set -eu

[ "${RATCHET_SETUP:-}" = skip ] && exit 0

# package:command-or-file that shows it is installed (checked without dpkg, so the check is the
# same on every system and costs a few stat calls).
needs="
clang:clang
lld:wasm-ld
wasi-libc:/usr/include/wasm32-wasi/stdio.h
libclang-rt-14-dev-wasm32:/usr/lib/llvm-14/lib/clang/14.0.6/lib/wasi/libclang_rt.builtins-wasm32.a
wabt:wat2wasm
nginx-light:nginx
minisign:minisign
ca-certificates:/etc/ssl/certs/ca-certificates.crt
"

have() {
  case "$1" in
    /*) [ -e "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] ;;
  esac
}

missing=""
for entry in $needs; do
  pkg=${entry%%:*}
  probe=${entry#*:}
  if [ "$pkg" = libclang-rt-14-dev-wasm32 ]; then
    # The runtime's directory carries clang's full version; any 14.x will do.
    set -- /usr/lib/llvm-14/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a
    [ -e "$1" ] && continue
  elif have "$probe"; then
    continue
  fi
  missing="$missing $pkg"
done

[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: these packages are missing:$missing" >&2
  echo "setup: this machine has no apt-get; install their equivalents with your package manager" >&2
  echo "setup: (Debian/Ubuntu: apt-get install$missing). See README.md, 'Platforms'." >&2
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "setup: not root and no sudo; run as root: apt-get update && apt-get install -y$missing" >&2
    exit 1
  fi
fi

echo "setup: installing missing system packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "setup: installed:$missing" >&2
