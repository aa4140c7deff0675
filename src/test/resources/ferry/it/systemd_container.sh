#!/bin/bash
# systemd_container.sh UNITS LOG ETC: boots systemd as PID 1 of its own PID, mount,
# network, UTS and cgroup namespaces (as a container manager would, for a
# machine whose PID 1 is not systemd), so that a test can run the installed
# units for real: systemctl through nsenter, ferry-client through nsenter -n.
# Runs in the foreground until systemd (the child of unshare) is killed:
# SIGKILL to it ends every process of the namespaces; then this script removes
# its cgroups, made under the caller's own in each hierarchy, and exits. Needs
# root.
#
# Inside: the unit directory /usr/lib/systemd/system is UNITS (the units under
# test and empty stand-ins for the targets they name: nothing else of this
# machine is started), /etc/ferry is ETC, /etc/systemd/system, /run, /tmp,
# /var/tmp and /var/lib are empty tmpfs (nothing is left behind), no
# generator runs, the loopback interface is up (port 9000 is free there), and
# the units' standard output and error go to LOG.
set -eu
units=$1
log=$2
etc=$3

if [ "${4:-}" != inside ]; then
    name=ferry-systemd-$$
    made=()
    cleanup() {
        local dir try
        for dir in "${made[@]}"; do
            # Bottom up: systemd's slices and scopes, then ours; the killed
            # processes may take a moment to leave them (bounded: 5 s).
            for try in {1..50}; do
                find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null
                [ -d "$dir" ] || break
                sleep 0.1
            done
        done
    }
    trap cleanup EXIT
    # A cgroup of its own under the current one, in every hierarchy, for
    # unshare and what it starts (not for this script, which removes them):
    # systemd in the cgroup namespace sees it as the root, and stays within
    # the limits of ours.
    while read -r _ mountpoint type options _; do
        [ "$type" = cgroup ] || [ "$type" = cgroup2 ] || continue
        if [ "$type" = cgroup2 ]; then
            own=$(sed -n 's/^0::\(.*\)/\1/p' /proc/self/cgroup)
        else
            controller=$(tr ',' '\n' <<<"$options" | grep -v -x -E 'rw|ro|relatime|noatime|nosuid|nodev|noexec' | paste -sd, -)
            own=$(awk -F: -v c="$controller" '$2 == c { print $3 }' /proc/self/cgroup)
        fi
        dir=$mountpoint${own%/}/$name
        mkdir "$dir"
        made+=("$dir")
        if [ -f "$dir/cpuset.cpus" ]; then
            cat "${dir%/*}/cpuset.cpus" >"$dir/cpuset.cpus"
            cat "${dir%/*}/cpuset.mems" >"$dir/cpuset.mems"
        fi
    done </proc/mounts
    (
        for dir in "${made[@]}"; do
            echo "$BASHPID" >"$dir/cgroup.procs"
        done
        exec unshare --pid --fork --mount --net --uts --cgroup -- bash "$0" "$units" "$log" "$etc" inside
    ) &
    wait $! || true
    exit 0
fi

# Inside the namespaces, as PID 1's parent (unshare --fork).
cgroups=$(awk '$3 == "cgroup" || $3 == "cgroup2" { print $2, $3, $4 }' /proc/mounts)
mount --make-rprivate /
mount -t proc proc /proc
# The cgroup hierarchies again, seen from the cgroup namespace (rooted at ours).
umount -R /sys/fs/cgroup
mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
while read -r mountpoint type options; do
    mkdir -p "$mountpoint"
    if [ "$type" = cgroup2 ]; then
        mount -t cgroup2 cgroup2 "$mountpoint"
    else
        controller=$(tr ',' '\n' <<<"$options" | grep -v -x -E 'rw|ro|relatime|noatime|nosuid|nodev|noexec' | paste -sd, -)
        case $controller in name=*) controller=none,$controller ;; esac
        mount -t cgroup -o "$controller" cgroup "$mountpoint"
    fi
done <<<"$cgroups"
mount --bind "$units" /usr/lib/systemd/system
mount --bind "$etc" /etc/ferry
mount -t tmpfs tmpfs /run
mkdir /run/ferry-test
mount --bind "${log%/*}" /run/ferry-test
log=/run/ferry-test/${log##*/}
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
mount -t tmpfs tmpfs /var/lib
mount -t tmpfs tmpfs /etc/systemd/system
mount -t tmpfs tmpfs /usr/lib/systemd/system-generators
mkdir -p /etc/systemd/system/service.d
printf '[Service]\nStandardOutput=append:%s\nStandardError=append:%s\n' "$log" "$log" \
    >/etc/systemd/system/service.d/log.conf
# systemd, outside a container manager, does not make mounts shared (which
# LoadCredential= needs: the credentials are mounted in a child's namespace);
# here they are shared within these namespaces only.
mount --make-rshared /
ip link set lo up
exec env -i container=ferry-test /usr/lib/systemd/systemd --system --unit=ferry-test.target --log-target=null
