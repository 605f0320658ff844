#!/usr/bin/env bash
# Builds ratchet-js.wasm: QuickJS-ng + our harness (ratchet-js.c), compiled for wasm32-wasi.
#
# The QuickJS-ng C sources are not copied into this repository: they are taken at build time
# from the crates.io package `rquickjs-sys` (which ships them), fetched by cargo into its usual
# registry cache. Needs clang, lld, wasi-libc and libclang-rt-14-dev-wasm32 (Debian packages;
# .ci/run installs them).
#
# Usage: js-engine/build.sh [OUT.wasm]   (default: target/js-engine/ratchet-js.wasm); also writes
# OUT.wasm.sha256 (hex SHA-256, the compiled-module cache key of the engine).
# The crate's build.rs runs this script with OUT.wasm in its OUT_DIR and RATCHET_JS_WORK (the
# directory for objects and the throw-away manifest) under OUT_DIR too.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
out="${1:-$root/target/js-engine/ratchet-js.wasm}"
work="${RATCHET_JS_WORK:-$root/target/js-engine}"
QUICKJS_CRATE_VERSION="0.14.0"
mkdir -p "$work/fetch/src" "$(dirname "$out")"

# A throw-away manifest whose only dependency is rquickjs-sys, so cargo downloads its sources.
cat > "$work/fetch/Cargo.toml" <<TOML
[package]
name = "fetch-quickjs-sources"
version = "0.0.0"
edition = "2021"
publish = false
[dependencies]
rquickjs-sys = "=$QUICKJS_CRATE_VERSION"
[workspace]
TOML
: > "$work/fetch/src/lib.rs"
# The package's manifest_path in cargo's JSON (no JSON tool needed: the path has no quotes).
manifest="$(cd "$work/fetch" && "${CARGO:-cargo}" metadata --quiet --format-version 1 \
  | grep -o "\"manifest_path\":\"[^\"]*/rquickjs-sys-$QUICKJS_CRATE_VERSION/Cargo.toml\"" | head -n1 \
  | sed -e 's/^"manifest_path":"//' -e 's/"$//')"
crate_dir="$(dirname "$manifest")"
qjs="$crate_dir/quickjs"
[ -f "$qjs/quickjs.c" ] || { echo "QuickJS sources not found in $crate_dir" >&2; exit 1; }

cc="${CC_WASM:-clang}"
flags=(--target=wasm32-wasi -O2 -D_GNU_SOURCE -D_WASI_EMULATED_SIGNAL -I"$qjs" -w)
objs=()
for src in quickjs libregexp libunicode dtoa; do
  obj="$work/$src.o"
  # Rebuild an object only when its source changed (sources are immutable per crate version).
  if [ ! -f "$obj" ] || [ "$qjs/$src.c" -nt "$obj" ]; then
    "$cc" "${flags[@]}" -c "$qjs/$src.c" -o "$obj"
  fi
  objs+=("$obj")
done
"$cc" "${flags[@]}" -c "$here/ratchet-js.c" -o "$work/ratchet-js.o"
tmp="$out.tmp.$$"
# A 4 MiB C stack placed first in linear memory: QuickJS-ng has no stack check under WASI, so
# deep JavaScript recursion ends either on the sandbox's native stack (a "stack overflow" trap)
# or below address 0 (an out-of-bounds trap) — never by overwriting the engine's data.
"$cc" "${flags[@]}" -Wl,-z,stack-size=4194304 -Wl,--stack-first \
  -lwasi-emulated-signal "${objs[@]}" "$work/ratchet-js.o" -o "$tmp"
sha256sum "$tmp" | cut -d' ' -f1 > "$out.sha256"
mv "$tmp" "$out"
echo "built $out ($(stat -c %s "$out") bytes)"
