#!/usr/bin/env bash
# Run overhead: the same synthetic DAGs of 1,000 `true` steps through meshbook (durable state on:
# journal fsynced before dependants start, a log per step), ninja, GNU make and a bare spawner
# (bench/spawner.c: the same process and file work with no engine around it, the limit), in one
# run. Each DAG runs twice: with the trivial command (meshbook `shell: {argv: [true]}`, ninja's
# `/bin/sh -c true`, make's exec of true) and with bash's start-up in every step (meshbook
# `shell: "true"`, which runs `bash -euo pipefail -c true`; the peers run that very command), so
# `shell:` is compared like for like too. Prints markdown tables of wall time and ratios.
#
#   bench/run-overhead.sh [path/to/meshbook]      (default: target/release/meshbook)
#   J=2 REPS=3 bench/run-overhead.sh
#
# Each cell is the best of REPS runs. ninja: `apt-get install -y ninja-build`; a C compiler.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
meshbook=${1:-${CARGO_TARGET_DIR:-$root/target}/release/meshbook}
J=${J:-2}
REPS=${REPS:-3}
for tool in "$meshbook" ninja make cc bash; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export MESHBOOK_KEY_FILE=$work/key
cc -O2 -o "$work/spawner" "$here/spawner.c"
bash_path=$(type -P bash)
true_path=$(type -P true)

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

write_files() { # SHAPE DIR MODE: MODE is `true` (the trivial command) or `bash` (bash -euo pipefail -c true)
  local shape=$1 dir=$2 mode=$3 body command
  case $mode in
    true) body='shell: {argv: ["true"]}'; command=true ;;
    bash) body='shell: "true"'; command='bash -euo pipefail -c true' ;;
  esac
  mkdir -p "$dir"
  {
    printf 'apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {name: bench-%s}\nsteps:\n' "$shape"
    gen "$shape" | while read -r id deps; do
      printf '  - id: %s\n    %s\n' "$id" "$body"
      if [ -n "${deps:-}" ]; then printf '    needs: [%s]\n' "$(echo "$deps" | sed 's/ /, /g')"; fi
    done
  } > "$dir/runbook.yaml"
  {
    printf 'rule t\n  command = %s\n' "$command"
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
    gen "$shape" | while read -r id deps; do printf '%s: %s\n\t%s\n' "$id" "${deps:-}" "$command"; done
  } > "$dir/Makefile"
  # The spawner's DAG: each step's index, then its dependencies' indices.
  gen "$shape" | awk '{ idx[$1] = NR - 1; line = NR - 1; for (i = 2; i <= NF; i++) line = line " " idx[$i]; print line }' > "$dir/dag"
}

now() { date +%s%N; }

timed() { # command... ; prints its wall time in ms
  local t0 t1
  t0=$(now)
  "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
  t1=$(now)
  echo $(((t1 - t0) / 1000000))
}

# best DIR MODE: the best of REPS runs of each tool, the tools taking turns so that a noisy
# moment on the machine hits each alike. Prints "meshbook ninja make bare" in ms.
best() {
  local -A min=()
  local tool ms
  for _ in $(seq 1 "$REPS"); do
    for tool in meshbook ninja make bare; do
      ms=$(timed "run_$tool" "$1" "$2")
      if [ -z "${min[$tool]:-}" ] || [ "$ms" -lt "${min[$tool]}" ]; then min[$tool]=$ms; fi
    done
  done
  echo "${min[meshbook]} ${min[ninja]} ${min[make]} ${min[bare]}"
}

# A fresh state dir per run, kept until the end: deleting thousands of files just before a
# timed run makes ext4 slow to create new ones, which would measure the benchmark, not the tool.
run_meshbook() { # DIR [MODE]
  local state
  state=$(mktemp -d "$1/state.XXXXXX")
  "$meshbook" run "$1/runbook.yaml" --state-dir "$state" --workdir "$1" --log-format plain --concurrency "$J"
}
run_ninja() { ninja -C "$1" -j "$J" -f build.ninja; }    # DIR [MODE]
run_make() { make -C "$1" -j "$J" -s all; }               # DIR [MODE]
run_bare() { # DIR MODE
  local state
  state=$(mktemp -d "$1/bare.XXXXXX")
  case $2 in
    true) "$work/spawner" "$J" "$state" -- "$true_path" < "$1/dag" ;;
    bash) "$work/spawner" "$J" "$state" -- "$bash_path" -euo pipefail -c true < "$1/dag" ;;
  esac
}

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
echo "| DAG (1,000 steps) | each step runs | meshbook | ninja | make -j$J | bare spawner | meshbook / ninja | meshbook / ninja running \`true\` | meshbook / bare | make / bare |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for shape in chain wide layered; do
  case $shape in chain) label="chain" ;; wide) label="independent" ;; layered) label="100×10 layered" ;; esac
  for mode in true bash; do
    dir=$work/$shape-$mode
    write_files "$shape" "$dir" "$mode"
    read -r m n k b < <(best "$dir" "$mode")
    case $mode in
      true) what='`true` (meshbook `argv: [true]`)'; n_true=$n ;;
      bash) what='`bash -euo pipefail -c true` (meshbook `shell: "true"`)' ;;
    esac
    awk -v l="$label" -v w="$what" -v m="$m" -v n="$n" -v k="$k" -v b="$b" -v t="$n_true" 'BEGIN {
      printf "| %s | %s | %d ms | %d ms | %d ms | %d ms | %.2f× | %.2f× | %.2f× | %.2f× |\n", l, w, m, n, k, b, m/n, m/t, m/b, k/b
    }'
  done
done
echo
echo "sync latency after: $(sync_probe) ms per synced append"
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
