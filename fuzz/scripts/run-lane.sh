#!/usr/bin/env bash
# Runs fuzz targets one after another at the lowest priority (nice 19, one job, one worker),
# each until it has used CPU_BUDGET seconds of CPU or WALL_CAP seconds of wall time, whichever
# comes first (libFuzzer's -max_total_time counts wall time; on a shared machine that is not
# CPU time). Logs go to fuzz/logs/<target>/ (not committed), new inputs to fuzz/corpus-work/<target>/,
# crashes to fuzz/artifacts/<target>/.
# Usage: fuzz/scripts/run-lane.sh TARGET...   (env: CPU_BUDGET=600 WALL_CAP=900)
set -u
cd "$(dirname "$0")/.."
FUZZ=$PWD
BIN=$FUZZ/target/x86_64-unknown-linux-gnu/release
CPU_BUDGET=${CPU_BUDGET:-600}
WALL_CAP=${WALL_CAP:-900}
TICKS=$(getconf CLK_TCK)
for t in "$@"; do
  mkdir -p "logs/$t" "corpus-work/$t" "artifacts/$t"
  [ -d "corpus/$t" ] && cp -n "corpus/$t"/* "corpus-work/$t/" 2>/dev/null
  [ -d "corpus-raw/$t" ] && cp -n "corpus-raw/$t"/* "corpus-work/$t/" 2>/dev/null
  start=$(date +%s)
  echo "$(date -u +%T) start $t" >> logs/lanes.log
  (cd "logs/$t" && exec nice -n 19 "$BIN/$t" "$FUZZ/corpus-work/$t" \
      -jobs=1 -workers=1 -max_total_time=$((WALL_CAP + 60)) -timeout=25 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$FUZZ/artifacts/$t/" > parent.log 2>&1) &
  parent=$!
  cpu=0
  while kill -0 "$parent" 2>/dev/null; do
    sleep 5
    # The job libFuzzer starts (-jobs=1) runs the same binary: the one that is not the parent.
    child=$(pgrep -f "^$BIN/$t " | grep -vx "$parent" | tail -1)
    if [ -n "$child" ] && [ -r "/proc/$child/stat" ]; then
      read -r -a st < "/proc/$child/stat"
      c=$(( (st[13] + st[14]) / TICKS ))
      [ "$c" -gt "$cpu" ] && cpu=$c
    fi
    now=$(date +%s)
    if [ "$cpu" -ge "$CPU_BUDGET" ] || [ $((now - start)) -ge "$WALL_CAP" ]; then
      [ -n "$child" ] && kill -INT "$child" 2>/dev/null
      sleep 5
    fi
  done
  echo "$(date -u +%T) end $t cpu_s=$cpu wall_s=$(( $(date +%s) - start ))" >> logs/lanes.log
done
