#!/usr/bin/env bash
# Run overhead: the same synthetic DAGs of `true` steps through meshbook (durable state on:
# journal fsynced before dependants start), ninja and GNU make, in one run. Prints a markdown
# table of wall time, per-step overhead and the ratio to ninja.
#
#   bench/run-overhead.sh [path/to/meshbook]      (default: target/release/meshbook)
#   J=2 REPS=3 bench/run-overhead.sh
#
# Each cell is the best of REPS runs. ninja: `apt-get install -y ninja-build`.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
meshbook=${1:-${CARGO_TARGET_DIR:-$root/target}/release/meshbook}
J=${J:-2}
REPS=${REPS:-3}
for tool in "$meshbook" ninja make; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export MESHBOOK_KEY_FILE=$work/key

# gen SHAPE: prints "id deps..." lines.
gen() {
  case $1 in
    chain) echo "s0"; for i in $(seq 1 999); do echo "s$i s$((i - 1))"; done ;;
    wide) for i in $(seq 0 999); do echo "s$i"; done ;;
    layered)
      for l in $(seq 0 99); do
        for k in $(seq 0 9); do
          if [ "$l" -eq 0 ]; then echo "s$l-$k"; else echo "s$l-$k s$((l - 1))-$k s$((l - 1))-$(((k + 1) % 10))"; fi
        done
      done ;;
  esac
}

write_files() { # SHAPE DIR [STEP]
  local shape=$1 dir=$2 body=${3:-'shell: "true"'}
  mkdir -p "$dir"
  {
    printf 'apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {name: bench-%s}\nsteps:\n' "$shape"
    gen "$shape" | while read -r id deps; do
      printf '  - id: %s\n    %s\n' "$id" "$body"
      if [ -n "${deps:-}" ]; then printf '    needs: [%s]\n' "$(echo "$deps" | sed 's/ /, /g')"; fi
    done
  } > "$dir/runbook.yaml"
  {
    printf 'rule t\n  command = true\n'
    gen "$shape" | while read -r id deps; do
      if [ -n "${deps:-}" ]; then printf 'build %s: t | %s\n' "$id" "$deps"; else printf 'build %s: t\n' "$id"; fi
    done
  } > "$dir/build.ninja"
  {
    printf '.PHONY: all'
    gen "$shape" | while read -r id _; do printf ' %s' "$id"; done
    printf '\nall:'
    gen "$shape" | while read -r id _; do printf ' %s' "$id"; done
    printf '\n'
    gen "$shape" | while read -r id deps; do printf '%s: %s\n\ttrue\n' "$id" "${deps:-}"; done
  } > "$dir/Makefile"
}

now() { date +%s%N; }

best() { # command... ; prints best wall time in ms over REPS runs
  local best=""
  for _ in $(seq 1 "$REPS"); do
    local t0 t1
    t0=$(now)
    "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
    t1=$(now)
    local ms=$(((t1 - t0) / 1000000))
    if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
  done
  echo "$best"
}

run_meshbook() { # DIR
  # A fresh state dir per run, kept until the end: deleting thousands of files just before a
  # timed run makes ext4 slow to create new ones, which would measure the benchmark, not meshbook.
  local state
  state=$(mktemp -d "$1/state.XXXXXX")
  "$meshbook" run "$1/runbook.yaml" --state-dir "$state" --workdir "$1" --log-format plain --concurrency "$J"
}
run_ninja() { ninja -C "$1" -j "$J" -f build.ninja; }
run_make() { make -C "$1" -j "$J" -s all; }

# The disk's sync latency right now: meshbook syncs its journal once per finished step of a chain,
# so this bounds what a chain step can cost. Measured as 200 synced appends of a journal-sized line.
sync_probe() {
  local t0 t1
  t0=$(now)
  dd if=/dev/zero of="$work/sync-probe" bs=150 count=200 oflag=dsync,append conv=notrunc status=none
  t1=$(now)
  awk -v d=$((t1 - t0)) 'BEGIN { printf "%.2f", d / 200 / 1000000 }'
}
echo "sync latency before: $(sync_probe) ms per synced append"
echo
echo "| DAG (1,000 steps of \`true\`) | meshbook | ninja | make -j$J | meshbook per step | ninja per step | make per step | meshbook / ninja |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for shape in chain wide layered; do
  dir=$work/$shape
  write_files "$shape" "$dir"
  m=$(best run_meshbook "$dir")
  n=$(best run_ninja "$dir")
  k=$(best run_make "$dir")
  label=$shape
  case $shape in chain) label="1,000-step chain" ;; wide) label="1,000 independent" ;; layered) label="100×10 layered" ;; esac
  if [ "$shape" = chain ]; then
    # The same chain with `argv: [true]`: no bash start per step, as make runs simple commands.
    write_files chain "$work/chain-argv" 'shell: {argv: ["true"]}'
    a=$(best run_meshbook "$work/chain-argv")
  fi
  awk -v l="$label" -v m="$m" -v n="$n" -v k="$k" 'BEGIN {
    printf "| %s | %d ms | %d ms | %d ms | %.2f ms | %.2f ms | %.2f ms | %.2f× |\n", l, m, n, k, m/1000, n/1000, k/1000, (n > 0 ? m/n : 0)
  }'
done
echo
echo "sync latency after: $(sync_probe) ms per synced append"
awk -v a="$a" 'BEGIN { printf "\nThe chain with `shell: {argv: [true]}` (no bash per step): %d ms, %.2f ms per step.\n", a, a/1000 }'
# Ansible for reference, when installed (`pip install ansible-core`): per-task overhead from a
# playbook of 100 `command: true` tasks on localhost, minus an empty playbook's start-up.
ansible=${ANSIBLE_PLAYBOOK:-$(command -v ansible-playbook || true)}
if [ -n "$ansible" ]; then
  play() { # TASKS FILE
    { printf -- '- hosts: localhost\n  connection: local\n  gather_facts: false\n  vars: {ansible_python_interpreter: "{{ ansible_playbook_python }}"}\n  tasks:\n'
      for i in $(seq 1 "$1"); do printf '    - ansible.builtin.command: "true"\n'; done
      [ "$1" -gt 0 ] || printf '    []\n'
    } > "$2"
  }
  play 100 "$work/p100.yml"
  play 1 "$work/p1.yml"
  export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false
  t100=$(REPS=1 best "$ansible" -i localhost, "$work/p100.yml")
  t1=$(REPS=1 best "$ansible" -i localhost, "$work/p1.yml")
  awk -v a="$t100" -v b="$t1" 'BEGIN { printf "Ansible (ansible-core, local connection): %.1f ms per task (100 tasks %d ms, 1 task %d ms).\n", (a-b)/99, a, b }'
fi
echo
echo "concurrency $J (meshbook --concurrency, ninja -j, make -j); best of $REPS; $(nproc) cores; $(uname -sr)"
