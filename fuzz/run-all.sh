#!/usr/bin/env bash
# Runs every fuzz target in turn for SECONDS each (default 1200) on the seeds
# cut from testdata (make-seeds.py), logging to fuzz/logs/<target>.log; exits
# non-zero if any target crashed or did not build (.ci/run uses 45 s).
# Needs nightly and cargo-fuzz. A crash stops the target and leaves its input
# in fuzz/artifacts/<target>/.
set -uo pipefail
cd "$(dirname "$0")" || exit 1
secs=${1:-1200}
targets="label mda_header metadata_text ring_scan scan_image history vg_model exception_store image_set commands select thin_metadata disk_layout thin_write rmeta cache_metadata writecache"
# Seeds for any target that has none yet (a corpus kept from older runs may
# lack a newer target's).
for t in $targets; do
  [ -d "corpus/$t" ] || { ./make-seeds.py; break; }
done
mkdir -p logs
rc=0
for t in $targets; do
  max=4096
  case $t in
    ring_scan|scan_image|history|exception_store|image_set|disk_layout) max=1100000 ;;
    thin_metadata) max=530000 ;;
    thin_write) max=530000 ;;
    rmeta) max=20000 ;;
    cache_metadata) max=530000 ;;
    writecache) max=140000 ;;
    vg_model) max=65536 ;;
    commands) max=512 ;;
  esac
  # Inputs that once crashed (fuzz/regressions/<target>) run first, every time.
  dirs=("corpus/$t")
  [ -d "regressions/$t" ] && dirs+=("regressions/$t")
  echo "== $t: ${secs}s"
  if ! nice -n 19 cargo +nightly fuzz run -O "$t" "${dirs[@]}" -- -max_total_time="$secs" -max_len="$max" \
      -rss_limit_mb=4096 -timeout=10 > "logs/$t.log" 2>&1; then
    echo "   CRASH or error, see fuzz/logs/$t.log and fuzz/artifacts/$t/"
    tail -n 40 "logs/$t.log"
    rc=1
  fi
  grep -E "^#[0-9]+.*(DONE|exec/s)" "logs/$t.log" | tail -1
done
exit $rc
