#!/usr/bin/env bash
# Minimizes each target's corpus (as `cargo fuzz cmin` does, with libFuzzer's smaller
# -set_cover_merge) from the committed corpus and the inputs a run found, into fuzz/corpus/<target>/. Archive inputs that
# are tar streams are stored gzip-compressed: the reader sees the same tar (the entry point
# takes gzip input as it is), at a tenth of the size. Edges only (-use_counters=0): a corpus
# that keeps every hit-count bucket is ten times larger for little gain.
# Usage: fuzz/scripts/minimize.sh TARGET...
set -eu
cd "$(dirname "$0")/.."
BIN=$PWD/target/x86_64-unknown-linux-gnu/release
for t in "$@"; do
  rm -rf "corpus-min/$t" && mkdir -p "corpus-min/$t" "corpus/$t" "corpus-work/$t" "artifacts/$t"
  nice -n 19 "$BIN/$t" -set_cover_merge=1 -use_counters=0 -timeout=25 -rss_limit_mb=2048 "corpus-min/$t" "corpus/$t" \
    "corpus-work/$t" > "logs/cmin-$t.log" 2>&1
  # Inputs that once crashed or hung a reader stay, whatever coverage they add.
  for f in artifacts/$t/*; do [ -f "$f" ] && cp "$f" "corpus-min/$t/regression-$(basename "$f")"; done
  if [ "$t" = archive ]; then
    for f in corpus-min/$t/*; do
      if [ "$(head -c2 "$f" | od -An -tx1 | tr -d ' ')" != 1f8b ]; then
        gzip -9 -n -c "$f" > "$f.gz" && rm "$f"
      fi
    done
  fi
  rm -rf "corpus/$t" && mv "corpus-min/$t" "corpus/$t"
  echo "$t: $(ls "corpus/$t" | wc -l) files, $(du -sb "corpus/$t" | cut -f1) bytes"
done
