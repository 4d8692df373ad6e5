#!/usr/bin/env bash
# Stop the single-node Slurm cluster started by up.sh: slurmd, slurmctld and
# munged. Idempotent; packages, configuration and job state stay, so up.sh
# brings the same cluster back quickly. Jobs still running are cancelled
# first so no job processes outlive slurmd.
set -euo pipefail

RUN_DIR=/run/slurm

log() { printf 'slurm-down: %s\n' "$*"; }

[[ $EUID -eq 0 ]] || {
    echo "slurm-down: ERROR: must run as root" >&2
    exit 1
}

# Only a pid whose process is still the named program is signalled.
pid_of() { # name pidfile
    local pid
    [[ -r $2 ]] || return 1
    pid=$(<"$2")
    [[ $pid =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$1" ]] &&
        ! grep -q '^State:[[:space:]]*[ZX]' "/proc/$pid/status" 2>/dev/null &&
        echo "$pid"
}

stop() { # name pidfile
    local pid i
    if ! pid=$(pid_of "$1" "$2"); then
        log "$1 not running"
        return 0
    fi
    log "stopping $1 (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        pid_of "$1" "$2" >/dev/null || return 0
        sleep 0.2
    done
    log "$1 still alive after 20s, killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

if pid_of slurmctld "$RUN_DIR/slurmctld.pid" >/dev/null &&
    [[ -n $(squeue -h -t running,pending,suspended -o %i 2>/dev/null) ]]; then
    log "cancelling active jobs"
    scancel --full --state=running 2>/dev/null || true
    scancel --state=pending 2>/dev/null || true
    scancel --state=suspended 2>/dev/null || true
    # Give slurmd a moment to reap the steps before it goes away.
    for ((i = 0; i < 50; i++)); do
        [[ -z $(squeue -h -t running,completing -o %i 2>/dev/null) ]] && break
        sleep 0.2
    done
fi

stop slurmd "$RUN_DIR/slurmd.pid"
stop slurmctld "$RUN_DIR/slurmctld.pid"
# munged is only here for Slurm; Debian's package keeps its pid file here.
stop munged /run/munge/munged.pid
log "done"
