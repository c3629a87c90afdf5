#!/usr/bin/env bash
# The GPU evidence (issue 11) in one script, in stages; each stage's results are kept and the
# report is regenerated after each, so that a timeout keeps every stage that finished:
#   1. preflight: `tiny` through every CUDA path (mobius-bench preflight); stops on a failure
#   2. the claim: sd15, 16 frames, 256 px, batch 1 and 4, bf16, every registered variant
#      (diffusers-serial where diffusers is installed), the dry run of both cases (and of batch 1
#      sharded over 8 ranks by FSDP, in dryrun-fsdp/), the report
#   3. the profile of sd15 at 16 frames, 256 px, batch 1 (serial, serial-ckpt, mobius)
#   4. the rest of the full CUDA matrix (batch 8, serial and mobius; batch 2; 8, 24, 32 frames;
#      384, 512 px), each part stopped cleanly (Ctrl-C: finished cases kept) at the time limit
# Everything goes into one new folder, <date>-<gpu>: reports/gpu/<date>-<gpu>/ by default; when
# $OUT is set (the device machine), it is built under /tmp and packed after every stage into
# $OUT/<date>-<gpu>.tar.gz, with summary.md, stages.md and gpu_run.log beside it (the device
# tool brings back at most 8 files, two folders deep). Traces and memory snapshots over
# GPU_RUN_MAX_MB (default 4) are dropped and listed in dropped.txt. A line per stage says how
# it went; stages.md keeps those lines with each stage's seconds.
#
#   bash bench/gpu_run.sh [--rehearse] [--limit SECONDS]
#     --rehearse (or GPU_RUN_REHEARSE=1): the same stages on the CPU at `tiny` shapes, few
#       rounds, into /tmp/gpu_run_rehearsal/ unless $OUT is set
#     --limit (or GPU_RUN_LIMIT_S, default 540): wall seconds for the whole script; each stage
#       runs under what is left, less GPU_RUN_RESERVE_S (default 45) for the last report
#   Needs torch (with CUDA), pytest-benchmark, pandas, matplotlib, nvidia-ml-py; fvcore and
#   diffusers if their wheels are in .whl/ (built here by: bash bench/gpu_wheels.sh). Only when a
#   module is missing are the wheels installed, into /tmp/site.
#
# The device call for the session that runs it (tool `run`; about 2 of the 15 device minutes go
# on the start, so this leaves time for one rerun of a failed preflight):
#   command:   GPU_RUN_COMMIT=<git rev-parse HEAD, here> GPU_RUN_LIMIT_S=540 bash bench/gpu_run.sh
#              (the device's copy of the tree carries stale git metadata: name the commit)
#   carry:     [".whl"]
#   timeout_s: 590
#   kind:      left out. The claim's batch-4 case times five sd15 variants side by side in one
#              process: their states (weights, gradients, AdamW: 8.4 GiB each) and serial's 29.6
#              GiB saved for backward, as the H200 run of 2026-11-27 measured them.
# Then: tar -xzf <files_at>/<date>-<gpu>.tar.gz -C reports/gpu/ and commit that folder.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
start=$(date +%s)
rehearse=${GPU_RUN_REHEARSE:-0}
limit=${GPU_RUN_LIMIT_S:-540}
reserve=${GPU_RUN_RESERVE_S:-45}
max_mb=${GPU_RUN_MAX_MB:-4}
while [ $# -gt 0 ]; do
  case "$1" in
    --rehearse) rehearse=1 ;;
    --limit) limit=${2:?--limit needs seconds}; shift ;;
    *) echo "gpu_run.sh: unknown option $1 (takes --rehearse, --limit SECONDS)" >&2; exit 2 ;;
  esac
  shift
done
export PYTHONPATH="$top${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

# --- setup: what is missing, from the carried wheels -------------------------------------
missing() { for m in torch pytest_benchmark pandas matplotlib pynvml fvcore diffusers; do
  python3 -c "import $m" 2>/dev/null || printf '%s ' "$m"; done; }
gone=$(missing)
if [ -n "$gone" ] && compgen -G ".whl/*.whl" >/dev/null; then
  echo "# setup: missing $gone; installing the wheels of .whl/ into /tmp/site"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH="/tmp/site:$PYTHONPATH"
  gone=$(missing)
fi
for m in torch pytest_benchmark pandas matplotlib; do
  case " $gone " in *" $m "*) echo "gpu_run.sh: stopped: python module $m is missing" >&2; exit 1 ;; esac
done
[ -n "$gone" ] && echo "# setup: still missing $gone (nvml: no NVML figures; fvcore: no cross-check; diffusers: no diffusers-serial)"

# --- the folder ------------------------------------------------------------------------
if [ "$rehearse" = 1 ]; then
  device=cpu; slug=cpu-rehearsal
else
  device=cuda
  gpu=$(python3 -c "import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() else '')")
  [ -n "$gpu" ] || { echo "gpu_run.sh: stopped: torch sees no CUDA device (use --rehearse on a CPU)" >&2; exit 1; }
  slug=$(printf '%s' "$gpu" | tr '[:upper:]' '[:lower:]' | tr -c 'a-z0-9' '-' | sed 's/-\{2,\}/-/g; s/-$//')
fi
name="$(date -u +%Y%m%d)-$slug"
if [ -n "${OUT:-}" ]; then parent=/tmp/gpu_run
elif [ "$rehearse" = 1 ]; then parent=/tmp/gpu_run_rehearsal
else parent=reports/gpu
fi
mkdir -p "$parent"
[ -e "$parent/$name" ] && name="$name-$(date -u +%H%M%S)"
F="$parent/$name"
mkdir "$F" || exit 1
exec > >(tee -a "$F/gpu_run.log") 2>&1
echo "# gpu_run.sh: $F (device $device, limit ${limit}s)"
{
  echo "commit: ${GPU_RUN_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
  python3 -c "import torch, platform; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'python', platform.python_version())"
  [ "$device" = cuda ] && nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit,clocks.max.sm --format=csv
} > "$F/environment.txt" 2>&1

# --- the shapes of each stage ------------------------------------------------------------
if [ "$rehearse" = 1 ]; then
  preset=tiny; common=(--device cpu --rounds 2 --warmup 1)
  claim=(--preset tiny --batch 1,2 --frames 4 --resolution 64)
  dry_dtype=fp32; claim_dry=("1 4 64" "2 4 64")
  profile=(--preset tiny --batch 1 --frames 4 --resolution 64 --steps 1 --warmup 1)
  rest=("frames:--preset tiny --batch 1 --frames 8 --resolution 64")
  grid_axes=1,2/4,8/64
else
  preset=sd15; common=(--device cuda)
  claim=(--matrix claim --rounds 20 --warmup 5)  # 20 paired rounds: a 2% CV is seen
  dry_dtype=bf16; claim_dry=("1 16 256" "4 16 256")
  profile=(--preset sd15 --batch 1 --frames 16 --resolution 256 --steps 1 --warmup 1)
  # batch 8 first: by the H200's time model, where mobius too is kernel-bound (its FLOP-driven
  # saving), serial and mobius alone so that the two fit an H100
  rest=("batch8:--preset sd15 --batch 8 --frames 16 --resolution 256 --variants serial,mobius"
        "batch:--preset sd15 --batch 2 --frames 16 --resolution 256"
        "frames:--preset sd15 --batch 1 --frames 8,24,32 --resolution 256"
        "resolution:--preset sd15 --batch 1 --frames 16 --resolution 384,512")
fi

# --- helpers -----------------------------------------------------------------------------
# mobius-bench with Ctrl-C as KeyboardInterrupt even where the shell started it ignoring SIGINT
MB='import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); sys.argv[0] = "mobius-bench"; runpy.run_module("mobius_core", run_name="__main__")'
mb() { python3 -c "$MB" "$@"; }
left() { echo $(( limit - ($(date +%s) - start) - reserve )); }
# mobius-bench under what time is left: SIGINT first (a clean stop), KILL 30 s later
bounded() { local s; s=$(left); [ "$s" -gt 10 ] || return 124; timeout -s INT -k 30 "$s" python3 -c "$MB" "$@"; }
stage() { # stage NAME STATUS SECONDS TEXT: the stage's one line, kept in stages.md
  local line="stage $1: $2 in $3 s: $4"
  echo "$line"; echo "- $line" >> "$F/stages.md"
}
drop_large() { # traces and snapshots over max_mb, listed in dropped.txt
  find "$F" -type f \( -name '*-trace.json*' -o -name '*.pickle' \) -size +"${max_mb}M" -print0 |
    while IFS= read -r -d '' f; do
      echo "$(du -k "$f" | cut -f1) KiB ${f#"$F"/}" >> "$F/dropped.txt"; rm -f "$f"; done
}
report() { # the report on every run so far, with the dry runs and the grid beside them
  local runs=() extras=()
  [ -f "$F/run.json" ] && runs+=("$F/run.json")
  for f in "$F"/rest/run-*.json; do [ -f "$f" ] && runs+=("$f"); done
  [ ${#runs[@]} -gt 0 ] || return 0
  for f in "$F"/dryrun-*.json "$F"/grid-*.json; do [ -f "$f" ] && extras+=("$f"); done
  rm -rf "$F/report.new"
  if mb report "${runs[@]}" "${extras[@]}" --out "$F/report.new" > "$F/report.log" 2>&1; then
    rm -rf "$F/report"; mv "$F/report.new" "$F/report"
  else
    echo "# report failed: $(tail -1 "$F/report.log")"
  fi
}
pack() { # into $OUT: the folder as one archive, and the files a reader opens first
  drop_large
  [ -n "${OUT:-}" ] || return 0
  tar -czf "$OUT/$name.tar.gz.tmp" -C "$parent" "$name" && mv "$OUT/$name.tar.gz.tmp" "$OUT/$name.tar.gz"
  cp "$F/stages.md" "$F/gpu_run.log" "$OUT/" 2>/dev/null
  [ -f "$F/report/summary.md" ] && cp "$F/report/summary.md" "$OUT/summary.md"
  return 0
}
opening() { # the summary's first sentence: the claims at the headline case
  [ -f "$F/report/summary.md" ] && sed -n '3p' "$F/report/summary.md" | cut -c1-400
}
finish() { pack; echo "# gpu_run.sh: done in $(( $(date +%s) - start )) s: $F${OUT:+ (packed into $OUT/$name.tar.gz)}"; }
echo "# stages of $name" > "$F/stages.md"

# --- the dry runs: CPU work on the meta device, started now so that they run beside the
# preflight (whose timings are only a path check) and end before the claim is timed: a step
# at batch 1 is launch-bound, so CPU work beside it would show as step-time noise
dry_one() { # dry_one JSON ARGS...: one dry run, its table beside its JSON
  local json=$1; shift
  OMP_NUM_THREADS=2 nice -n 10 python3 -c "$MB" dry-run "$@" --json "$json" > "${json%.json}.md"
}
mkdir -p "$F/dryrun-fsdp"
dry_pids=()
for shape in "${claim_dry[@]}"; do
  read -r b f r <<< "$shape"
  dry_one "$F/dryrun-$preset-b$b-f$f-r$r-$dry_dtype.json" --preset "$preset" --batch "$b" \
    --frames "$f" --resolution "$r" --dtype "$dry_dtype" >> "$F/dryrun.log" 2>&1 &
  dry_pids+=($!)
done
read -r b f r <<< "${claim_dry[0]}"  # the first case sharded over 8 ranks by FSDP: states per rank
dry_one "$F/dryrun-fsdp/dryrun-$preset-b$b-f$f-r$r-$dry_dtype-fsdp-w8.json" --preset "$preset" \
  --batch "$b" --frames "$f" --resolution "$r" --dtype "$dry_dtype" --world 8 --mode fsdp \
  >> "$F/dryrun.log" 2>&1 &
dry_pids+=($!)
if [ "$rehearse" = 1 ]; then
  dry_one "$F/grid-tiny-fp32.json" --preset tiny --grid "$grid_axes" --dtype fp32 >> "$F/dryrun.log" 2>&1 &
  dry_pids+=($!)
else
  cp reports/dryrun/grid-sd15-bf16.json "$F/grid-sd15-bf16.json"
fi
wait_dry() { # before the claim is timed; a failed dry run is said, and the run goes on
  local pid
  for pid in "${dry_pids[@]}"; do wait "$pid" || echo "# a dry run failed: $(tail -1 "$F/dryrun.log")"; done
}

# --- 1. preflight ------------------------------------------------------------------------
t=$(date +%s)
bounded preflight --device "$device" --out "$F/preflight" > "$F/preflight.log" 2>&1
rc=$?
cat "$F/preflight.log"
last=$(grep '^preflight: \(passed\|FAILED\)' "$F/preflight.log" | tail -1)
if [ $rc -ne 0 ]; then
  case $rc in 124|130|137) why="stopped at the time limit (${limit}s)" ;; *) why="exit status $rc: $(tail -1 "$F/preflight.log")" ;; esac
  stage 1-preflight FAILED $(( $(date +%s) - t )) "${last:-$why}"
  kill "${dry_pids[@]}" 2>/dev/null
  finish; exit 1
fi
stage 1-preflight ok $(( $(date +%s) - t )) "$last"
pack

# --- 2. the claim ------------------------------------------------------------------------
t=$(date +%s)
wait_dry
bounded bench -- "${common[@]}" "${claim[@]}" --benchmark-json "$F/run.json" > "$F/claim.log" 2>&1
rc=$?
grep -v '^#' "$F/claim.log" | tail -3
report
case $rc in 0) status=ok ;; 130|124|137) status="stopped at the time limit" ;; *) status="FAILED (exit $rc)" ;; esac
stage 2-claim "$status" $(( $(date +%s) - t )) "$(opening)"
pack

# --- 3. the profile ----------------------------------------------------------------------
t=$(date +%s)
bounded profile "${profile[@]}" --variants serial,serial-ckpt,mobius --device "$device" \
  --out "$F/profile" > "$F/profile.log" 2>&1
rc=$?
bound=$(grep -E '^\| (serial|serial-ckpt|mobius) \|' "$F/profile/profile.md" 2>/dev/null |
  awk -F'|' '{for (i = 2; i <= 8; i++) gsub(/^ +| +$/, "", $i);
    printf "%s%s %s ms (kernel/wall %s, %s)", sep, $2, $3, $7, $8; sep = "; "}')
report
stage 3-profile "$([ $rc -eq 0 ] && echo ok || echo "FAILED (exit $rc)")" $(( $(date +%s) - t )) \
  "${bound:-$(tail -1 "$F/profile.log")}"
pack

# --- 4. the rest of the matrix, while time is left ----------------------------------------
mkdir -p "$F/rest"
for part in "${rest[@]}"; do
  label=${part%%:*}; read -r -a shape <<< "${part#*:}"
  t=$(date +%s)
  if [ "$(left)" -le 60 ]; then stage "4-$label" skipped 0 "no time left (limit ${limit}s)"; continue; fi
  bounded bench -- "${common[@]}" "${shape[@]}" --benchmark-json "$F/rest/run-$label.json" \
    > "$F/rest/$label.log" 2>&1
  rc=$?
  case $rc in 0) status=ok ;; 130|124|137) status="stopped at the time limit" ;; *) status="FAILED (exit $rc)" ;; esac
  report
  stage "4-$label" "$status" $(( $(date +%s) - t )) "$(grep '^# case' "$F/rest/$label.log" | cut -c3- | paste -sd';' -)"
  pack
done
finish
