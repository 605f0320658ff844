#!/bin/sh
# Regenerates the committed sample registry (sample-index/) from sample-bundles/.
#
# Every bundle version is built with `ratchet bundle build` and published with
# `ratchet-index publish` in a fixed order (dependencies first) with fixed publish times, one day
# apart from 2026-01-01; then one version is yanked and one bundle deprecated. Running it twice
# gives identical bytes; index-tools/tests/sample_index.rs fails when sample-index/ is stale.
#
# Every archive is signed with the SAMPLE-ONLY key sample-keys/sample-author.key (never trust
# it). minisign signatures are randomised, so the signature of each archive is kept in
# sample-keys/signatures/<id>-<version>.minisig and re-attached while it still matches the
# archive (same trusted comment); a bundle whose content changed is signed anew.
#
# The registry is then signed (index-format.md section 9) with the SAMPLE KEY, NOT SECRET
# sample-keys/sample-registry.key (origin samples.ratchet.invalid): root.json, the transparency
# log, the state map, a checkpoint and a timestamp valid 30 days, all at the fixed time
# 2026-01-12T00:00:00Z (a day after the last change). So the timestamp expired on 2026-02-11:
# local directory sources (`--registry sample-index`, file://) do not read it, but HTTP clients
# refuse such a copy as frozen until `ratchet-index timestamp COPY --registry-key
# sample-keys/sample-registry.key` signs a fresh one (index-format.md §9.12; README shows how).
# Signed output is byte for byte reproducible too: root.json, log/checkpoint and timestamp are
# kept in the signatures directory (registry-root.json, registry-checkpoint,
# registry-timestamp) and re-used while their statements are the ones this run signs.
#
# Usage: scripts/regen-sample-index.sh [OUT_DIR]   (default: sample-index)
# RATCHET and RATCHET_INDEX name the binaries; unset, the script builds them with cargo.
# RATCHET_SAMPLE_SIGS names the directory of kept signatures (default sample-keys/signatures);
# the up-to-date test points it at a copy, so running the tests never changes the repository.
set -eu

cd "$(dirname "$0")/.."
OUT=${1:-sample-index}

if [ -z "${RATCHET:-}" ] || [ -z "${RATCHET_INDEX:-}" ]; then
    cargo build -q -p ratchet -p index-tools
    RATCHET=${RATCHET:-target/debug/ratchet}
    RATCHET_INDEX=${RATCHET_INDEX:-target/debug/ratchet-index}
fi

# Publish order: every dependency before its dependents.
BUNDLES="
com.ratchet.core-utils/1.0.0
com.ratchet.core-utils/1.2.0
com.ratchet.core-utils/2.0.0
com.oss.json-utils/1.2.0
com.ratchet.legacy-json/1.0.0
com.partner.api-connectors/3.2.0
com.partner.api-connectors/3.3.0
com.enterprise.salesforce-suite/3.0.0
com.example.data-processing/2.1.0
com.templates.devops/2.5.0
"
START=1767225600 # 2026-01-01T00:00:00Z
DAY=86400

if [ -e "$OUT" ]; then
    if [ ! -f "$OUT/config.json" ]; then
        echo "error: $OUT exists and is not a registry; refusing to replace it" >&2
        exit 1
    fi
    rm -rf "$OUT"
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Archives carry this time stamp on every entry (reproducible builds).
SOURCE_DATE_EPOCH=$START
export SOURCE_DATE_EPOCH

# Metadata in meta/ files only (no `meta-in-index`, index-format.md §6.3.1): the client's tests
# of hostile metadata files and index lines run against this layout; generated registries (the
# benches, tests/static_hosts.rs) and every `ratchet-index init` without the flag use the line.
"$RATCHET_INDEX" init "$OUT" --name ratchet-samples --kind local --no-meta-in-index >/dev/null
KEY=sample-keys/sample-author.key
PUB=sample-keys/sample-author.pub
SIGS=${RATCHET_SAMPLE_SIGS:-sample-keys/signatures}
mkdir -p "$SIGS"
i=0
for b in $BUNDLES; do
    "$RATCHET" bundle build "sample-bundles/$b" --out "$WORK/" >/dev/null
    id=${b%/*}
    version=${b#*/}
    archive="$WORK/$id-$version.rbundle"
    sig="$SIGS/$id-$version.minisig"
    if ! { [ -f "$sig" ] && "$RATCHET" bundle sign "$archive" --signature "$sig" --pub "$PUB" >/dev/null 2>&1; }; then
        "$RATCHET" bundle sign "$archive" --key "$KEY" >/dev/null
        "$RATCHET" bundle sign "$archive" --print-signature >"$sig"
    fi
    "$RATCHET_INDEX" publish "$OUT" "$archive" --owner-key "$PUB" --publish-time $((START + i * DAY))
    i=$((i + 1))
done

# 3.3.0 shipped a broken retry policy: new resolutions fall back to 3.2.0.
"$RATCHET_INDEX" yank "$OUT" com.partner.api-connectors 3.3.0
"$RATCHET_INDEX" deprecate "$OUT" com.ratchet.legacy-json \
    --message "Superseded by com.oss.json-utils, which validates as well as parses." \
    --replacement com.oss.json-utils --time $((START + i * DAY))
# The yank left the prefetch hints of bundles that depend on api-connectors naming 3.3.0's
# archive (a yank rewrites the yanked bundle's own hint only): gc rewrites them, as a registry
# would on a schedule (index-format.md section 6.5.1).
"$RATCHET_INDEX" gc "$OUT" >/dev/null

# The statements (trusted comments) of a minisign signature file, one per line.
statements() { grep '^trusted comment: ' "$1" || true; }

# SAMPLE KEY, NOT SECRET. init-log keeps a root.json for this origin and key.
if [ -f "$SIGS/registry-root.json" ]; then
    cp "$SIGS/registry-root.json" "$OUT/root.json"
fi
RATCHET_TIMESTAMP_VALIDITY=30d "$RATCHET_INDEX" init-log "$OUT" \
    --origin samples.ratchet.invalid --registry-key sample-keys/sample-registry.key \
    --time $((START + (i + 1) * DAY)) >/dev/null
cp "$OUT/root.json" "$SIGS/registry-root.json"
# The checkpoint and timestamp signatures (randomised) are re-used as a pair while both
# sign the same statements; `verify` below checks them with the registry key.
if [ -f "$SIGS/registry-checkpoint" ] && [ -f "$SIGS/registry-timestamp" ] &&
    [ "$(statements "$SIGS/registry-checkpoint")" = "$(statements "$OUT/log/checkpoint")" ] &&
    [ "$(statements "$SIGS/registry-timestamp")" = "$(statements "$OUT/timestamp")" ]; then
    cp "$SIGS/registry-checkpoint" "$OUT/log/checkpoint"
    cp "$SIGS/registry-timestamp" "$OUT/timestamp"
else
    cp "$OUT/log/checkpoint" "$SIGS/registry-checkpoint"
    cp "$OUT/timestamp" "$SIGS/registry-timestamp"
fi

"$RATCHET_INDEX" verify "$OUT"
rm -f "$OUT/.ratchet-index.lock"
