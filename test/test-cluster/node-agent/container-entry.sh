#!/bin/sh
# Runs inside a pod's network namespace, in a fresh mount and UTS namespace (ip netns exec + unshare):
# sets the pod's hostname, mounts the container's volumes at their mountPath, changes to the working
# directory, then execs the container's program as its user. The pid stays the same through every exec,
# so the node agent's child *is* the container process. Fd 3 is the node agent's "set up" pipe: it is closed
# just before the program is exec'd, which is when a runtime's start returns (the kubelet runs postStart and exec
# probes only then; entering the namespaces earlier sees the node's hostname).
# usage: container-entry.sh HOSTNAME UID GID GROUPS WORKDIR MOUNTS_FILE -- PROGRAM [ARGS...]
# MOUNTS_FILE lines (tab-separated):  overlay LOWER UPPER WORK   |   bind SOURCE TARGET ro|rw dir|file
set -eu
host="$1"; uid="$2"; gid="$3"; groups="$4"; wd="$5"; mounts="$6"; shift 6
[ "${1:-}" = "--" ] && shift
P=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
PATH=$P hostname "$host"
if [ -s "$mounts" ]; then
  tab=$(printf '\t')
  while IFS="$tab" read -r kind a b c d; do
    case "$kind" in
      overlay)
        # Makes a directory tree writable in this namespace only, so missing mount points can be created
        # without touching the host's filesystem.
        PATH=$P mount -t overlay overlay -o "lowerdir=$a,upperdir=$b,workdir=$c" "$a" ;;
      bind)
        if [ "$d" = file ]; then
          PATH=$P mkdir -p "$(PATH=$P dirname "$b")"
          [ -e "$b" ] || : > "$b"
        else
          PATH=$P mkdir -p "$b"
        fi
        PATH=$P mount --bind "$a" "$b"
        if [ "$c" = ro ]; then PATH=$P mount -o remount,bind,ro "$b"; fi ;;
    esac
  done < "$mounts"
fi
cd "$wd" || { echo "container-entry: working directory $wd does not exist" >&2; exit 128; }
exec 3>&-
if [ "$uid" = 0 ] && [ -z "$groups" ]; then exec "$@"; fi
if [ -n "$groups" ]; then exec /usr/bin/setpriv --reuid="$uid" --regid="$gid" --groups="$groups" -- "$@"; fi
exec /usr/bin/setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"
