#!/bin/sh
# Installs the system packages this project needs, and only those that are missing.
#
# The README's two commands (the main job, and the tests through scripts/test.sh) run this first.
# It is idempotent: on a ready machine it checks a few files, prints nothing and exits 0 in a few
# milliseconds. What each package is for:
#   clang, lld, wasi-libc, libclang-rt-14-dev-wasm32  build the JavaScript engine (main job and
#                                                     tests) and the C test modules for wasm32-wasi
#   nginx-light                                       a real web server for the registry tests
#   openssl                                           the test CA and certificate of the HTTPS test
#   minisign                                          signature interoperability tests
#   procps                                            `kill`, to stop the test nginx cleanly
#   python3                                           `python3 -m http.server`, the README's static
#                                                     server, in tests/static_hosts.rs
#   ca-certificates                                   TLS roots for https registries
#   chromium, nodejs, npm                             the web marketplace's browser tests
#                                                     (index-tools/tests/site_browser.rs runs
#                                                     tests/browser/run.sh: playwright-core from
#                                                     npm drives Debian's headless chromium)
#   git                                               git-hosted registries: the client fetches
#                                                     with it; tests/hosting.rs serves one with
#                                                     `git daemon` and pushes to it
#   rsync                                             the mirror recipe of index-format.md §6.9,
#                                                     which tests/hosting.rs runs
#   libdbus-1-dev, pkg-config                         the keyring crate's Secret Service client
#                                                     (registry credentials in the keychain)
#                                                     links libdbus-1
#   dbus-daemon, gnome-keyring                        a private session bus with a real Secret
#                                                     Service for the keychain test of
#                                                     tests/oidc_login.rs
# Then, with npm, the test OpenID Connect provider of tests/oidc_login.rs: `npm ci` in
# tests/oidc (oidc-provider, pinned by its package-lock.json), when it is not installed yet.
#   moto[server] (PyPI, pinned)                       the S3-compatible server of
#                                                     index-tools/tests/hosting_s3.rs, in a venv at
#                                                     target/moto-venv (RATCHET_MOTO_VENV): it
#                                                     answers conditional PUTs with 412
#                                                     (python3-venv from apt when python3 has no venv)
#
# The names are Debian 12's (whose clang is 14). On Debian and Ubuntu it installs with apt-get
# (through sudo when not root). Elsewhere it prints what is missing and exits 1; README.md,
# "Platforms", says what to install on macOS and Windows. RATCHET_SETUP=skip turns it into a
# no-op (for machines you manage yourself).
set -euf  # -f: no filename expansion of the lists below (a probe's glob is expanded in have())

[ "${RATCHET_SETUP:-}" = skip ] && exit 0

# package:command-or-file that shows it is installed. Checked without dpkg (a few stat calls, the
# same on every system). A file probe rather than a command where a shell builtin could answer
# for the command (kill) or the package has no command.
needs="
clang:clang
lld:wasm-ld
wasi-libc:/usr/include/wasm32-wasi/stdio.h
libclang-rt-14-dev-wasm32:/usr/lib/llvm-14/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a
nginx-light:nginx
openssl:openssl
minisign:minisign
procps:/bin/kill
python3:python3
ca-certificates:/etc/ssl/certs/ca-certificates.crt
chromium:chromium
nodejs:node
npm:npm
git:git
rsync:rsync
libdbus-1-dev:/usr/include/dbus-1.0/dbus/dbus.h
pkg-config:pkg-config
dbus-daemon:dbus-run-session
gnome-keyring:gnome-keyring-daemon
"

have() {
  case "$1" in
    # A file probe may hold a glob (the runtime's directory carries clang's full version, and any
    # 14.x will do): the first match, or the pattern itself when nothing matches.
    /*) set +f; set -- $1; set -f; [ -e "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] ;;
  esac
}

find_missing() {
  missing=""
  for entry in $needs; do
    have "${entry#*:}" || missing="$missing ${entry%%:*}"
  done
}

# The npm packages of the tests (tests/oidc): installed from the committed lock file when the
# lock file changed since the last install (npm writes node_modules/.package-lock.json).
npm_deps() {
  dir=$(cd "$(dirname "$0")/../tests/oidc" && pwd)
  if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
    [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      echo "setup: npm is missing; install the Debian package npm" >&2
      exit 1
    fi
    echo "setup: npm ci in tests/oidc (the test OpenID Connect provider)" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --silent >&2) || {
      echo "setup: npm ci failed in $dir" >&2
      exit 1
    }
  fi
}

# moto[server] from PyPI into a venv under target/ (Debian's own pip is externally managed).
MOTO_VERSION=5.2.6
moto() {
  venv="${RATCHET_MOTO_VENV:-$(cd "$(dirname "$0")/.." && pwd)/target/moto-venv}"
  [ -x "$venv/bin/moto_server" ] && return 0
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    s=""; [ "$(id -u)" -ne 0 ] && s="sudo"
    echo "setup: installing with ${s:+sudo }apt-get: python3-venv" >&2
    $s env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null ||
      { echo "setup: apt-get install python3-venv failed" >&2; exit 1; }
  fi
  echo "setup: installing moto[server]==$MOTO_VERSION (PyPI) into $venv" >&2
  if ! python3 -m venv "$venv" >&2 ||
    ! "$venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2; then
    echo "setup: installing moto failed; the commands were:" >&2
    echo "  python3 -m venv $venv && $venv/bin/pip install 'moto[server]==$MOTO_VERSION'" >&2
    exit 1
  fi
}

find_missing
[ -z "$missing" ] && { npm_deps; moto; exit 0; }

echo "setup: missing system packages:$missing" >&2

if ! command -v apt-get >/dev/null 2>&1; then
  if [ "$(uname -s 2>/dev/null)" = Darwin ]; then
    echo "setup: on macOS, run: brew install nginx minisign openssl coreutils" >&2
    echo "setup: and take clang, wasm-ld and wasi-libc from the wasi-sdk (README.md, 'Platforms');" >&2
  else
    echo "setup: this machine has no apt-get; install the equivalents of these Debian packages" >&2
    echo "setup: with your package manager (README.md, 'Platforms');" >&2
  fi
  echo "setup: then set RATCHET_SETUP=skip, as this script cannot check other systems' packages." >&2
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "setup: not root and no sudo; as root, run:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends$missing" >&2
    exit 1
  fi
fi

echo "setup: installing with ${sudo:+sudo }apt-get:$missing" >&2
# `env` because sudo resets the environment (an exported DEBIAN_FRONTEND would not reach apt).
# shellcheck disable=SC2086
if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 ||
  ! $sudo env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends $missing >/dev/null; then
  echo "setup: apt-get failed (see above); the command was:" >&2
  echo "  ${sudo:+sudo }apt-get update && ${sudo:+sudo }apt-get install -y --no-install-recommends$missing" >&2
  exit 1
fi

# Installed, yet a probe still fails: another release's package layout (say a clang other than 14).
find_missing
if [ -n "$missing" ]; then
  echo "setup: apt-get succeeded but these are still not found:$missing" >&2
  echo "setup: (this script knows Debian 12's package names and paths; see scripts/setup.sh)" >&2
  exit 1
fi
npm_deps
moto
echo "setup: installed; the machine is ready" >&2
