#!/usr/bin/env bash
# Runs a SamuraiRoto farm analysis job on a real one-node Slurm cluster on localhost and
# checks that it writes the same mattes as `samurai-roto track`, bit for bit.
#   scripts/slurm-check.sh --exe PATH/samurai-roto --checkpoint CKPT [--frames N] [--image-size S]
#   scripts/slurm-check.sh --smoke          (the cluster alone: no binary, no checkpoint)
# Needs root (the daemons run as root, SlurmUser=root); run by another user it re-runs itself
# with `sudo -E`.
# Steps:
#   1. Installs the Debian packages slurm-wlm and munge when their programs are missing
#      (apt-get install --no-install-recommends, ~5 MB, apt-get update only when that fails;
#      the package registry only, nothing else online). It starts no system daemon.
#   2. Starts a private cluster in a fresh folder /tmp/slurm-check.XXXXXX: its own munge key
#      and munged (own socket, pid and seed files), a generated slurm.conf (one node: this
#      host at 127.0.0.1, nproc CPUs, `free -m` memory less 10 % (at most 1 GiB); partition
#      "debug"; cons_tres/CR_Core; no accounting), then slurmctld and slurmd in the
#      foreground with that file (-f, and SLURM_CONF for sbatch/squeue/scontrol and the jobs).
#      Nothing under /etc is read or written for Slurm or munge, and a system Slurm, if any,
#      is left alone (other free ports are picked when 6817/6818 are taken).
#   3. A smoke test: an `sbatch --wrap` array of 3 tasks plus a job depending on it (afterok).
#   4. Without --smoke: a clip of the bedroom clip's first N frames (symlinks into
#      ../shared/data/clips/bedroom), `samurai-roto track` on it (the reference), `farm plan`
#      with the same inputs, `farm slurm --submit`; waits until both jobs have left the queue,
#      requires every task COMPLETED with exit code 0 (scontrol show job; MinJobAge keeps
#      them an hour), prints the pass and merge logs, compares the farm's mattes with track's
#      (diff -r: the same names, the same bytes) and prints the timings and PASS or FAIL.
#   5. Always (trap on exit, Ctrl-C, SIGTERM): cancels its jobs still queued, stops the
#      daemons it started and removes its folder (--keep keeps the folder, to read the logs).
# Options: --frames N (default 6, at least 6: a prompt is on frame 5), --image-size S (256),
#   --threads T (track's --threads, 2), --timeout S (the wait for each pair of jobs, 600),
#   --keep, --smoke. The binary needs libtorch: scripts/env.sh is sourced before it runs, and
#   the jobs inherit the environment (sbatch's default --export=ALL).
# Exit status 0 only when the cluster came up, every job completed and every file matched.
# Time (2-core VM, debug build, tests/fixtures/checkpoint/sam_tiny.pt, 6 frames at 256):
# the install ~10 s when needed, the cluster ~2 s, the smoke test ~3 s, track ~20 s, the
# Slurm job ~30 s: about a minute in all.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(id -u)" != 0 ]; then  # the daemons run as root (SlurmUser=root), apt-get needs it too
  command -v sudo >/dev/null || { echo "slurm-check: needs root (or sudo)" >&2; exit 2; }
  exec sudo -E bash "${BASH_SOURCE[0]}" "$@"
fi

exe="" ckpt="" frames=6 image_size=256 threads=2 timeout=600 keep=0 smoke=0
usage="usage: scripts/slurm-check.sh --exe PATH/samurai-roto --checkpoint CKPT [--frames N] [--image-size S] [--threads T] [--timeout S] [--keep] | --smoke"
while [ $# -gt 0 ]; do
  case "$1" in
    --exe) exe="${2:?--exe needs a PATH}"; shift 2 ;;
    --checkpoint) ckpt="${2:?--checkpoint needs a FILE}"; shift 2 ;;
    --frames) frames="${2:?--frames needs N}"; shift 2 ;;
    --image-size) image_size="${2:?--image-size needs S}"; shift 2 ;;
    --threads) threads="${2:?--threads needs T}"; shift 2 ;;
    --timeout) timeout="${2:?--timeout needs seconds}"; shift 2 ;;
    --keep) keep=1; shift ;;
    --smoke) smoke=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
if [ "$smoke" = 0 ]; then
  [ -n "$exe" ] && [ -n "$ckpt" ] || { echo "$usage" >&2; exit 2; }
  [ -x "$exe" ] || { echo "slurm-check: --exe $exe is not an executable file" >&2; exit 2; }
  [ -f "$ckpt" ] || { echo "slurm-check: --checkpoint $ckpt is not a file" >&2; exit 2; }
  exe="$(cd "$(dirname "$exe")" && pwd)/$(basename "$exe")"
  ckpt="$(cd "$(dirname "$ckpt")" && pwd)/$(basename "$ckpt")"
  [[ "$frames" =~ ^[0-9]+$ ]] && [ "$frames" -ge 6 ] || { echo "slurm-check: --frames must be a number >= 6 (a prompt is on frame 5)" >&2; exit 2; }
  clips="$root/../shared/data/clips/bedroom"
  [ -d "$clips" ] || { echo "slurm-check: no clip folder $clips" >&2; exit 2; }
fi

t_start=$(date +%s)
say() { printf '[slurm-check %4ss] %s\n' "$(( $(date +%s) - t_start ))" "$*"; }
die() { say "FAIL: $*"; exit 1; }

# --- 1. packages -----------------------------------------------------------------------------
PATH="$PATH:/usr/sbin:/sbin"
need=()
for p in slurmctld slurmd sbatch squeue scontrol sinfo scancel; do command -v "$p" >/dev/null || { need=(slurm-wlm); break; }; done
for p in munged munge unmunge; do command -v "$p" >/dev/null || { need+=(munge); break; }; done
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]} (apt-get, without recommended packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt_log="$(mktemp /tmp/slurm-check-apt.XXXXXX)"
  if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >"$apt_log" 2>&1; then
    say "apt-get install failed: apt-get update, then once more"
    apt-get update -qq >>"$apt_log" 2>&1 || true
    apt-get install -y -qq --no-install-recommends "${need[@]}" >>"$apt_log" 2>&1 \
      || { cat "$apt_log"; rm -f "$apt_log"; die "apt-get install ${need[*]} failed"; }
  fi
  rm -f "$apt_log"
fi
for p in slurmctld slurmd sbatch squeue scontrol sinfo scancel munged munge unmunge; do
  command -v "$p" >/dev/null || die "$p is not installed"
done

# --- 2. the cluster --------------------------------------------------------------------------
T="$(mktemp -d /tmp/slurm-check.XXXXXX)"
chmod 755 "$T"   # munged wants o+x on every folder above its socket
mkdir -p "$T/munge" "$T/ctld" "$T/d" "$T/run" "$T/log"
chmod 755 "$T/munge"
munged_pid="" ctld_pid="" slurmd_pid=""

stop() {  # $1 pid, $2 name: TERM, then KILL after 15 s
  local pid="$1" i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then say "$2 (pid $pid) did not stop: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$? i
  set +e
  trap - EXIT INT TERM
  if [ -n "$ctld_pid" ] && kill -0 "$ctld_pid" 2>/dev/null && [ -n "$(squeue -h -o %A 2>/dev/null)" ]; then
    say "cancelling the jobs still queued"
    scancel -u "$(id -un)" 2>/dev/null
    for i in $(seq 40); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.5; done
  fi
  stop "$slurmd_pid" slurmd
  stop "$ctld_pid" slurmctld
  stop "$munged_pid" munged
  if [ "$keep" = 1 ]; then say "kept $T"; else rm -rf "$T"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_logs() {
  local f
  for f in "$T"/log/*; do
    [ -s "$f" ] || continue
    # slurmctld/slurmd in the foreground (-D) write their log file and stderr both: show one
    case "$f" in *.out) [ -s "${f%.out}.log" ] && continue ;; esac
    echo "----- $f (last 40 lines)"; tail -n 40 "$f"
  done
}

say "state folder $T"
if command -v mungekey >/dev/null; then
  mungekey --create --keyfile="$T/munge/munge.key"
else
  dd if=/dev/urandom of="$T/munge/munge.key" bs=1024 count=1 status=none
fi
chmod 600 "$T/munge/munge.key"
sock="$T/munge/munge.socket.2"
munged -F --socket="$sock" --key-file="$T/munge/munge.key" --pid-file="$T/munge/munged.pid" \
  --seed-file="$T/munge/munged.seed" >"$T/log/munged.log" 2>&1 &
munged_pid=$!
for i in $(seq 50); do [ -S "$sock" ] && break; kill -0 "$munged_pid" 2>/dev/null || break; sleep 0.2; done
munge -n -S "$sock" | unmunge -S "$sock" >/dev/null 2>&1 || { show_logs; die "munged did not start"; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=6817
for i in $(seq 50); do
  port_free "$port" && port_free $((port + 1)) && break
  port=$((20000 + RANDOM % 40000))
done
node="$(hostname -s)"
cpus="$(nproc)"
mem_total="$(free -m | awk '/^Mem:/ {print $2}')"
mem=$(( mem_total - (mem_total / 10 > 1024 ? 1024 : mem_total / 10) ))   # margin: 10 %, at most 1 GiB
conf="$T/slurm.conf"
: >"$T/plugstack.conf"
cat >"$conf" <<EOF
# slurm-check.sh: a private one-node cluster (state under $T)
ClusterName=srcheck
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$T/ctld
SlurmdSpoolDir=$T/d
SlurmctldPidFile=$T/run/slurmctld.pid
SlurmdPidFile=$T/run/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
PlugStackConfig=$T/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=1
DependencyParameters=kill_invalid_depend
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=3600
KillWait=5
InactiveLimit=0
NodeName=$node NodeHostname=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$conf"
say "slurm.conf: node $node, $cpus CPUs, ${mem} MB, ports $port/$((port + 1))"
slurmctld -D -c -f "$conf" >"$T/log/slurmctld.out" 2>&1 &
ctld_pid=$!
slurmd -D -f "$conf" -N "$node" >"$T/log/slurmd.out" 2>&1 &
slurmd_pid=$!
state=""
for i in $(seq 120); do
  kill -0 "$ctld_pid" 2>/dev/null || { show_logs; die "slurmctld exited"; }
  kill -0 "$slurmd_pid" 2>/dev/null || { show_logs; die "slurmd exited"; }
  state="$(sinfo -h -n "$node" -o %T 2>/dev/null || true)"
  [ "$state" = idle ] && break
  sleep 0.5
done
if [ "$state" != idle ]; then
  sinfo -R 2>&1 || true
  show_logs
  die "the node is not idle after 60 s (state: '${state:-no answer}')"
fi
say "cluster up: $(sinfo -h -o '%P %a %D %T %N')"

# --- job helpers -----------------------------------------------------------------------------
jobid() {  # the id in sbatch --parsable's "id[;cluster]"
  local id="${1%%;*}"
  [[ "$id" =~ ^[0-9]+$ ]] || return 1
  echo "$id"
}
wait_gone() {  # ids...: until squeue lists none of them
  local ids deadline last="" now id
  ids="$(IFS=,; echo "$*")"
  deadline=$(( $(date +%s) + timeout ))
  while :; do
    kill -0 "$ctld_pid" 2>/dev/null || { show_logs; die "slurmctld died while waiting"; }
    kill -0 "$slurmd_pid" 2>/dev/null || { show_logs; die "slurmd died while waiting"; }
    now="$(squeue -h -j "$ids" -o '%i:%T' 2>/dev/null | sort | tr '\n' ' ' || true)"
    [ -z "$now" ] && return 0
    [ "$now" != "$last" ] && say "queue: $now"
    last="$now"
    if [ "$(date +%s)" -ge "$deadline" ]; then
      squeue -j "$ids" || true
      for id in "$@"; do scontrol show job "$id" || true; done
      show_logs
      die "jobs $ids still queued after $timeout s"
    fi
    sleep 1
  done
}
check_completed() {  # id expected_records name: every record (array task) COMPLETED, 0:0
  local id="$1" want="$2" name="$3" lines n bad
  lines="$(scontrol -o show job "$id" 2>&1)" || die "scontrol show job $id: $lines"
  n="$(grep -c 'JobState=' <<<"$lines" || true)"
  bad="$(grep -v -E 'JobState=COMPLETED .*ExitCode=0:0' <<<"$lines" || true)"
  if [ -n "$bad" ] || [ "$n" != "$want" ]; then
    awk '{ s = ""; for (i = 1; i <= NF; i++) if ($i ~ /^(JobId|ArrayTaskId|JobState|Reason|ExitCode|StdOut)=/) s = s " " $i; print "  " s }' <<<"$lines"
    die "$name job $id: $n of $want records, not all COMPLETED with exit code 0"
  fi
  say "$name job $id: $n/$want COMPLETED, exit 0:0"
}
job_span() {  # id: seconds from the first StartTime to the last EndTime over its records
  local times s e first="" last=""
  times="$(scontrol -o show job "$1" | grep -o -E '(StartTime|EndTime)=[^ ]*' | cut -d= -f2)"
  for s in $(grep -v Unknown <<<"$times"); do
    e="$(date -d "$s" +%s)"
    if [ -z "$first" ] || [ "$e" -lt "$first" ]; then first="$e"; fi
    if [ -z "$last" ] || [ "$e" -gt "$last" ]; then last="$e"; fi
  done
  echo $(( ${last:-0} - ${first:-0} ))
}

# --- 3. smoke test ---------------------------------------------------------------------------
mkdir -p "$T/smoke"
t0=$(date +%s)
a="$(jobid "$(sbatch --parsable --array=0-2 -J smoke-array -o "$T/smoke/array-%a.log" \
  --wrap 'echo "task $SLURM_ARRAY_TASK_ID on $(hostname)"')")" || die "sbatch of the smoke array failed"
b="$(jobid "$(sbatch --parsable --dependency=afterok:"$a" -J smoke-after -o "$T/smoke/after.log" \
  --wrap 'echo "after the array"')")" || die "sbatch of the dependent smoke job failed"
say "smoke: array $a (3 tasks), dependent job $b"
wait_gone "$a" "$b"
check_completed "$a" 3 "smoke array"
check_completed "$b" 1 "smoke dependent"
for k in 0 1 2; do grep -qx "task $k on .*" "$T/smoke/array-$k.log" || die "smoke task $k log: $(cat "$T/smoke/array-$k.log" 2>&1)"; done
grep -qx "after the array" "$T/smoke/after.log" || die "smoke dependent log: $(cat "$T/smoke/after.log" 2>&1)"
say "smoke test passed in $(( $(date +%s) - t0 )) s"
if [ "$smoke" = 1 ]; then
  say "PASS: the one-node cluster runs an array and a dependent job"
  exit 0
fi

# --- 4. the farm job -------------------------------------------------------------------------
[ -f "$root/scripts/env.sh" ] && source "$root/scripts/env.sh"
clip="$T/clip"
mkdir -p "$clip"
mapfile -t names < <(cd "$clips" && ls | grep -E '\.(jpg|jpeg|png)$' | sort | head -n "$frames")
[ "${#names[@]}" = "$frames" ] || die "the bedroom clip has ${#names[@]} frames, $frames asked"
for n in "${names[@]}"; do ln -s "$(cd "$clips" && pwd)/$n" "$clip/$n"; done
inputs=(--checkpoint "$ckpt" --frames "$clip"
  --object girl:0:310,0,515,400 --object girl:4:300,10,520,420 --object boy:0:145,135,295,405
  --point lamp:5:700,150,1 --image-size "$image_size" --device cpu --fill-hole-area 0)

say "track: $frames frames at $image_size"
t0=$(date +%s)
"$exe" --threads "$threads" track "${inputs[@]}" --out "$T/track" >"$T/log/track.out" 2>&1 \
  || { cat "$T/log/track.out"; die "samurai-roto track failed"; }
t_track=$(( $(date +%s) - t0 ))
say "track took $t_track s"

say "farm plan"
t0=$(date +%s)
"$exe" --threads "$threads" farm plan "${inputs[@]}" --job "$T/job" --out "$T/farm" 2>&1 | tee "$T/log/plan.out" \
  || die "samurai-roto farm plan failed"
t_plan=$(( $(date +%s) - t0 ))

say "farm slurm --submit"
t0=$(date +%s)
out="$("$exe" farm slurm --job "$T/job" --submit 2>&1)" || { echo "$out"; die "samurai-roto farm slurm --submit failed"; }
echo "$out"
[[ "$out" =~ submitted:\ passes\ ([0-9]+),\ merge\ ([0-9]+) ]] || die "no job ids in farm slurm's answer"
pj="${BASH_REMATCH[1]}" mj="${BASH_REMATCH[2]}"
[ -f "$T/job/slurm/pass.sbatch" ] && [ -f "$T/job/slurm/merge.sbatch" ] || die "no JOBDIR/slurm/pass.sbatch or merge.sbatch"
range="$(grep -o -E '^#SBATCH +--array=0-[0-9]+' "$T/job/slurm/pass.sbatch" | grep -o -E '[0-9]+$')" \
  || die "pass.sbatch has no '#SBATCH --array=0-N' line"
groups=$((range + 1))
say "submitted: passes $pj ($groups tasks), merge $mj"
wait_gone "$pj" "$mj"
t_slurm=$(( $(date +%s) - t0 ))
for ((k = 0; k < groups; k++)); do
  echo "----- pass log $k"
  cat "$T/job/slurm/pass-$k.log" 2>&1 || true
done
for f in "$T"/job/slurm/*.log; do
  case "$f" in */pass-*.log) ;; *) [ -f "$f" ] && { echo "----- $(basename "$f")"; cat "$f"; } ;; esac
done
check_completed "$pj" "$groups" "pass array"
check_completed "$mj" 1 "merge"

# --- 5. compare ------------------------------------------------------------------------------
n_track="$(find "$T/track" -type f | wc -l)"
n_farm="$(find "$T/farm" -type f 2>/dev/null | wc -l)"
say "comparing $T/track ($n_track files) with $T/farm ($n_farm files)"
[ "$n_track" -gt 0 ] || die "track wrote no files"
if ! diff -r "$T/track" "$T/farm"; then
  die "the farm's files differ from track's"
fi
say "timings: track $t_track s (--threads $threads); farm plan $t_plan s; Slurm submit-to-done $t_slurm s" \
  "(passes ran over $(job_span "$pj") s in $groups tasks on $cpus CPUs, merge $(job_span "$mj") s)"
say "PASS: the Slurm farm job ($groups pass tasks + merge) wrote the same $n_track files as track, byte for byte"
