# Shared by the launchers of the repository (./server, ./client) and of the
# Debian package (/usr/bin/ferry-server, /usr/bin/ferry-client, which install
# this file as /usr/lib/ferry/ferry-launch.sh): how a program's JVM is started
# and stopped, once it is built. Sourced, not run; bash builtins only, so that
# a launch starts no command before java.
#
# The JVM cannot honour SIGQUIT (it reserves it for thread dumps) and exits
# 143 on SIGTERM, so the server's launcher stays the process the caller holds.
# The JVM runs in a session of its own and holds the read end of a pipe from
# the launcher, on a descriptor of its own (-Dferry.parentPipe=N; its standard
# input is the launcher's): on TERM, QUIT, INT or HUP the launcher closes the
# pipe and the JVM stops in order (unfinished uploads become ERROR), after
# which the launcher exits 0. If the launcher itself is killed, even with
# SIGKILL, the kernel closes the pipe and the JVM stops the same way, so none
# is left holding the port.
#
# Socket activation (systemd, systemd-socket-activate): when LISTEN_PID is the
# launcher's own PID and LISTEN_FDS=1, the listening socket is descriptor 3.
# The launcher hands it to the JVM as its standard input and says so
# (-Dferry.inheritedSocket=true); the JVM serves on it instead of binding.

# Each program's JVM options, the same for its training run and its launches
# (a start-up cache is only used by a JVM started with compatible options).
# The server's young generation is 16 MiB (-Xmn16m): by default it is a third of an initial heap of 1/64
# of the machine's memory (113 MiB on 24 GiB), garbage that counts in the resident set on top of the
# budgets (issue 18: 50 uploads of 100 MiB into S3, JVM peak 531 -> 435 MiB). The heap's maximum stays
# the JVM's default; the server refuses budgets that do not fit in it (ServerConfig.checkBudgets).
FERRY_SERVER_JVM_OPTS=(-XX:+UseSerialGC -Xmn16m -XX:-UsePerfData -XX:+ExitOnOutOfMemoryError)
# The client runs interpreted (-Xint): its data path is the kernel's (sendfile, or one write of a small
# file), so no compiler thread earns its start-up cost (issue 11: 500 B, CPU 75 -> 63 ms; 100 MiB,
# CPU 121 -> 100 ms, wall 303 -> 212 ms; medians of 20 and 10 alternating runs).
# -Djdk.includeInExceptions names the JDK's default for what its network exceptions may say (host names, not
# socket addresses): named as a system property, the JDK does not read its java.security file for it on the
# first use of an InetAddress, which an interpreted run pays 3-4 ms of CPU for (issue 20; a name looked up still
# reads it, for the lookup cache's lifetime; an IP address does not).
FERRY_CLIENT_JVM_OPTS=(-XX:+UseSerialGC -Xint -XX:-UsePerfData -Djdk.includeInExceptions=hostInfoExclSocket)

# ferry_client_tls [ARG...]: with TLS on (--tls, --cacert, --cert or --key
# before the positionals, or FERRY_TLS, FERRY_CACERT, FERRY_CERT or FERRY_KEY
# set), drops -Xint from FERRY_CLIENT_JVM_OPTS: TLS encrypts every byte in
# Java, which interpreted runs at a few hundred KiB/s instead of tens of MiB/s.
# Any argument counts (an option's value may come before): a file named --tls
# costs only the compiler's start-up. Builtins only.
ferry_client_tls() {
    local arg tls=""
    case ${FERRY_TLS:-} in '' | 0 | [Ff][Aa][Ll][Ss][Ee] | [Nn][Oo] | [Oo][Ff][Ff]) ;; *) tls=1 ;; esac
    [ -n "${FERRY_CACERT:-}${FERRY_CERT:-}${FERRY_KEY:-}" ] && tls=1
    for arg; do
        case $arg in
            --tls | --cacert | --cacert=* | --cert | --cert=* | --key | --key=*) tls=1 ;;
        esac
    done
    if [ -n "$tls" ]; then
        local opts=() opt
        for opt in "${FERRY_CLIENT_JVM_OPTS[@]}"; do
            [ "$opt" = -Xint ] || opts+=("$opt")
        done
        FERRY_CLIENT_JVM_OPTS=("${opts[@]}")
    fi
    return 0
}

# ferry_server_classpath DIR [ARG...]: sets FERRY_SERVER_CLASSPATH to the
# server's class path for these arguments: DIR/ferry.jar alone, or followed by
# the run-time libraries DIR/libraries lists (one line, lib/NAME.jar joined by
# colons, as the build wrote it) when an argument or variable switches on an
# option that needs one: --metrics (the Prometheus client), --counter (the
# PostgreSQL driver), FILE-DIR s3://... (the AWS SDK), or FERRY_METRICS or
# FERRY_COUNTER set and not empty. The jar's manifest names no library: the JVM
# opens every jar on its class path at start, needed or not, which is what the
# client and a server without these options are spared. Any argument counts,
# an option's value or one after the positional ones too: a library too many
# costs only start-up time, one missing fails the option. Builtins only. Says
# so and returns 1 when the list is missing.
ferry_server_classpath() {
    local dir=$1 libraries=""
    shift
    FERRY_SERVER_CLASSPATH=$dir/ferry.jar
    _ferry_server_needs_libraries "$@" || return 0
    if [ ! -r "$dir/libraries" ]; then
        echo "ERROR: ferry's list of its libraries, $dir/libraries, is missing: the build is incomplete" >&2
        return 1
    fi
    IFS= read -r libraries <"$dir/libraries"
    [ -n "$libraries" ] && FERRY_SERVER_CLASSPATH+=":$dir/${libraries//:/":$dir/"}"
    return 0
}

# True when the server's arguments or environment switch on an option whose library is not in ferry.jar.
_ferry_server_needs_libraries() {
    local arg
    [ -n "${FERRY_METRICS:-}" ] || [ -n "${FERRY_COUNTER:-}" ] && return 0
    for arg; do
        case $arg in
            --metrics* | --counter* | [sS]3://*) return 0 ;;
        esac
    done
    return 1
}

# Call first, with the launcher's arguments. A shell started in the background
# ignores SIGQUIT and cannot trap it: the launcher starts again with QUIT, TERM
# and INT at their defaults (the server honours all three). Keeps the PID.
ferry_reset_signals() {
    case $(trap -p QUIT TERM INT) in
        *"''"*)
            if [ -z "${FERRY_SIGNALS_RESET:-}" ]; then
                FERRY_SIGNALS_RESET=1 exec env --default-signal=QUIT,TERM,INT "$BASH" "${BASH_SOURCE[-1]}" "$@"
            fi
            ;;
    esac
}

_ferry_jvm=""
# The trap of TERM, QUIT, INT and HUP: asks the JVM to stop by closing its
# pipe, waits for it (its grace period is 3 s; SIGKILL after 5 s is only a
# backstop) and exits 0. Before the JVM started (during a first build, say)
# there is nothing to wait for.
_ferry_stop() {
    trap '' TERM QUIT INT HUP
    [ -n "$_ferry_jvm" ] || exit 0
    local pipe=${FERRY_JVM[1]}
    exec {pipe}>&-
    sleep 5 &
    local backstop=$!
    wait -n "$_ferry_jvm" "$backstop"
    if kill -0 "$backstop" 2>/dev/null; then
        kill "$backstop" 2>/dev/null
    else
        kill -KILL "$_ferry_jvm" 2>/dev/null
    fi
    exit 0
}

# Call early, before anything slow: from then on TERM, QUIT, INT and HUP end
# the server's launcher with exit code 0.
ferry_stop_on_signals() {
    trap _ferry_stop TERM QUIT INT HUP
}

# ferry_serve JAVA [JVM-OPTION...] -- [ARG...]: runs the server's JVM
# (ferry.server.ServerMain ARG...) as a coprocess with the parent pipe,
# waits for it and exits with its code; the JVM options include the class
# path. Takes the socket from socket activation, if any is meant for this
# process, and keeps the LISTEN_* variables from the JVM and its children.
ferry_serve() {
    local java=$1
    local -a options=() socket=()
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        options+=("$1")
        shift
    done
    [ $# -gt 0 ] && shift
    if [ -n "${LISTEN_PID:-}" ] && [ "$LISTEN_PID" = "$$" ]; then
        if [ "${LISTEN_FDS:-}" != 1 ]; then
            echo "ERROR: socket activation passed ${LISTEN_FDS:-no} sockets (LISTEN_FDS); ferry serves on exactly one: give the socket unit one ListenStream=" >&2
            exit 2
        fi
        socket=(-Dferry.inheritedSocket=true)
    fi
    unset LISTEN_PID LISTEN_FDS LISTEN_FDNAMES
    # A coprocess's standard input and output are pipes to this script:
    # inside, the input pipe moves to a descriptor of its own and this
    # script's standard input (or the socket) and output come back.
    local ferry_in ferry_out
    exec {ferry_in}<&0 {ferry_out}>&1
    coproc FERRY_JVM {
        exec {ferry_pipe}<&0 <&"$ferry_in" {ferry_in}<&-
        # The socket moves to standard input and descriptor 3 is closed (the
        # launcher closes its copy too): the JVM's exit then releases it,
        # where systemd does not keep it open itself.
        [ ${#socket[@]} -eq 0 ] || exec <&3 3<&-
        exec setsid "$java" "${options[@]}" "${socket[@]}" -Dferry.parentPipe="$ferry_pipe" \
            ferry.server.ServerMain "$@" >&"$ferry_out" {ferry_out}>&-
    }
    exec {ferry_in}<&- {ferry_out}>&-
    [ ${#socket[@]} -eq 0 ] || exec 3<&-
    _ferry_jvm=$FERRY_JVM_PID
    wait "$_ferry_jvm"
    exit $?
}

# Sets FERRY_JVM_CACHE_OPTS to the options that use program $1's AOT cache
# in the package ($FERRY_HOME/$1.aot, trained by packaging/build-deb with the
# bundled runtime), or to none when there is none.
ferry_installed_cache_options() {
    FERRY_JVM_CACHE_OPTS=()
    # A cache the JVM cannot use only costs start-up time; its complaints must not reach the user.
    [ -r "$FERRY_HOME/$1.aot" ] && FERRY_JVM_CACHE_OPTS=("-XX:AOTCache=$FERRY_HOME/$1.aot" "-Xlog:aot=off,cds=off")
    return 0
}

# Call with the client's arguments: sets FERRY_CLIENT_TERMINAL to the JVM
# option that says standard error is a terminal (where the progress line
# goes: Java 21 cannot tell, the shell can, with a builtin), or to none.
# On a terminal, --quiet (or FERRY_QUIET) leaves nothing but ERROR: lines on
# standard error, the build's notes included (FERRY_BUILD_NOTES=never).
ferry_client_terminal() {
    local arg
    FERRY_CLIENT_TERMINAL=()
    [ -t 2 ] || return 0
    FERRY_CLIENT_TERMINAL=(-Dferry.stderrTerminal=true)
    case ${FERRY_QUIET:-} in [1Tt][Rr][Uu][Ee] | 1 | [Yy][Ee][Ss] | [Oo][Nn]) FERRY_BUILD_NOTES=never ;; esac
    for arg; do
        case $arg in
            --quiet | -q) FERRY_BUILD_NOTES=never ;;
            -- | - | [!-]*) break ;;
        esac
    done
    return 0
}
