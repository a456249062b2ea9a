#!/usr/bin/env bash
# A one-node Slurm on this machine, for testing `oocr sweep --shard` under a real `sbatch --array`.
#
#   scripts/slurm-local.sh start   # as root: installs Debian slurm-wlm + munge if missing, writes
#                                  # $SLURM_LOCAL_DIR/slurm.conf (node 127.0.0.1, CPUs from nproc),
#                                  # starts munged, slurmctld, slurmd; waits until the node is idle
#   scripts/slurm-local.sh stop    # kills the three daemons by their pid files
#   scripts/slurm-local.sh env     # prints `export SLURM_CONF=...` for sbatch/squeue/scontrol
#
# Everything (config, state, logs, pid files) lives in $SLURM_LOCAL_DIR (default /tmp/oocr-slurm);
# /etc/slurm is not touched. Client commands need SLURM_CONF=$SLURM_LOCAL_DIR/slurm.conf.
set -euo pipefail

DIR="${SLURM_LOCAL_DIR:-/tmp/oocr-slurm}"
CONF="$DIR/slurm.conf"
# munged keeps Debian's default socket (so plain `munge`/`unmunge` work) and its pid file beside it.
MUNGE_PID=/run/munge/munged.pid
CTLD_PID="$DIR/slurmctld.pid"
SLURMD_PID="$DIR/slurmd.pid"

log() { echo "slurm-local: $*" >&2; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
        command -v sbatch >/dev/null && command -v munged >/dev/null; then
        return
    fi
    log "installing slurm-wlm and munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    # Keep the packages' postinst scripts from starting system services: we start our own.
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        created_policy=1
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
    if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi
}

write_conf() {
    local host cpus
    host="$(hostname -s)"
    cpus="$(nproc)"
    mkdir -p "$DIR/state" "$DIR/spool"
    cat >"$CONF" <<EOF
# One-node Slurm written by scripts/slurm-local.sh.
ClusterName=oocrlocal
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MinJobAge=600
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} State=UNKNOWN
PartitionName=local Nodes=${host} Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
    local key=/etc/munge/munge.key
    if [ ! -s "$key" ]; then
        log "creating the munge key"
        mkdir -p /etc/munge
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile="$key" --force
        else
            dd if=/dev/urandom of="$key" bs=1 count=1024 status=none
        fi
    fi
    chown munge:munge "$key" /etc/munge
    chmod 0400 "$key"
    chmod 0700 /etc/munge
    mkdir -p /var/log/munge /var/lib/munge /run/munge
    chown munge:munge /var/log/munge /var/lib/munge /run/munge
    runuser -u munge -- munged --pid-file="$MUNGE_PID"
    munge -n | unmunge >/dev/null
}

wait_for_idle() {
    local state=""
    for _ in $(seq 1 60); do
        state="$(sinfo -h -o %T 2>/dev/null | head -1 || true)"
        case "$state" in
        idle | mixed | allocated) return 0 ;;
        esac
        sleep 1
    done
    log "node did not become idle (state '$state'); logs in $DIR"
    tail -n 20 "$DIR/slurmctld.log" "$DIR/slurmd.log" >&2 || true
    return 1
}

start() {
    if [ "$(id -u)" != 0 ]; then
        log "start needs root (it installs packages and runs the daemons)"
        exit 1
    fi
    stop_daemons quiet
    install_packages
    rm -rf "$DIR/state" "$DIR/spool"
    mkdir -p "$DIR"
    write_conf
    export SLURM_CONF="$CONF"
    start_munge
    slurmctld -f "$CONF"
    slurmd -f "$CONF"
    wait_for_idle
    log "up: $(sinfo -h -o '%P %D node(s) %c CPUs %T')"
    log "use: export SLURM_CONF=$CONF"
}

# Kills one daemon by its pid file and waits for it to exit.
kill_pidfile() {
    local name="$1" file="$2" pid
    [ -s "$file" ] || return 0
    pid="$(cat "$file")"
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" || true; fi
        [ "${3:-}" = quiet ] || log "stopped $name (pid $pid)"
    fi
    rm -f "$file"
}

stop_daemons() {
    kill_pidfile slurmd "$SLURMD_PID" "${1:-}"
    kill_pidfile slurmctld "$CTLD_PID" "${1:-}"
    kill_pidfile munged "$MUNGE_PID" "${1:-}"
}

case "${1:-}" in
start) start ;;
stop) stop_daemons ;;
env) echo "export SLURM_CONF=$CONF" ;;
*)
    echo "usage: $0 start|stop|env" >&2
    exit 2
    ;;
esac
