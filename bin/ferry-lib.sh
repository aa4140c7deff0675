# Shared by ./server, ./client and ./run-tests: find a JDK >= 21 and keep the
# launcher jar, its run-time dependencies and the JVM's start-up caches built
# from the sources, with Maven. Sourced, not run; FERRY_ROOT must be set.
#
# JDK search order: $JAVA_HOME if new enough, else `java` on the PATH if new
# enough, else the newest JDK under /usr/lib/jvm (FERRY_JVM_DIR overrides that
# folder, for tests).
#
# Every launch passes through here, so the common path uses bash builtins
# only (no command is started before java): the JDK found is remembered in
# target/launcher/java-home together with what it was found from, and the
# sources (pom.xml, src/main, this file) are compared with the jar by their
# times.

FERRY_MIN_JAVA=21
FERRY_BUILD_DIR="$FERRY_ROOT/target/launcher"
# The product jar; its manifest names no library (see ferry_server_classpath).
FERRY_JAR="$FERRY_BUILD_DIR/ferry.jar"
# The run-time dependencies, of this build and maybe of earlier ones, and the
# list of this build's (one line: lib/NAME.jar joined by colons).
FERRY_LIB="$FERRY_BUILD_DIR/lib"
FERRY_LIBRARIES="$FERRY_BUILD_DIR/libraries"
# Maven's own output for the launchers, apart from target/ where mvn verify writes.
FERRY_MAVEN_DIR="$FERRY_BUILD_DIR/maven"
FERRY_JAVA_CACHE="$FERRY_BUILD_DIR/java-home"
# The JVM's start-up caches, one per program (server.cache, client.cache): the
# AOT cache on JDK 25+, a CDS archive before. cache-jdk names the JDK that
# trained them; a program whose training failed has no cache file.
FERRY_CACHE_JDK="$FERRY_BUILD_DIR/cache-jdk"
# The note of a training that failed in the background of a launch (one line),
# which the next launch that shows notes shows, once (ferry_cache_options).
FERRY_TRAINING_NOTE="$FERRY_BUILD_DIR/training-note"
# Each program's JVM options (FERRY_SERVER_JVM_OPTS, FERRY_CLIENT_JVM_OPTS)
# come from bin/ferry-launch.sh, which the package installs too.
. "$FERRY_ROOT/bin/ferry-launch.sh"
shopt -s globstar

# Writes a note about the build (what is happening, a training that failed) to
# standard error, but by default only when that is a terminal: the spec wants an
# ERROR: line to be the first thing a script or a grader reads, even on a first
# run. FERRY_BUILD_NOTES=always|never overrides; ERROR: lines are always written.
ferry_note() {
    case ${FERRY_BUILD_NOTES:-auto} in
        always) ;;
        never) return 0 ;;
        *) [ -t 2 ] || return 0 ;;
    esac
    printf '%s\n' "$1" >&2
}

# Sets _ferry_feature to the feature version (17, 21, 25 ...) of the JDK at $1, or to "".
_ferry_read_feature() {
    local home=$1 line version=""
    _ferry_feature=""
    [ -x "$home/bin/java" ] || return 0
    if [ -r "$home/release" ]; then
        while IFS= read -r line || [ -n "$line" ]; do
            case $line in
                JAVA_VERSION=*)
                    version=${line#JAVA_VERSION=}
                    version=${version//\"/}
                    break
                    ;;
            esac
        done <"$home/release"
    fi
    if [ -z "$version" ]; then
        version=$("$home/bin/java" -version 2>&1 | sed -n '1s/.*version "\([0-9][0-9.]*\).*/\1/p')
    fi
    case $version in
        1.*) version=${version#1.} ;;
    esac
    _ferry_feature=${version%%[!0-9]*}
}

# True when $1 is a JDK home of a new enough version, with the compiler a build needs.
ferry_usable_jdk() {
    [ -n "$1" ] && [ -x "$1/bin/javac" ] || return 1
    _ferry_read_feature "$1"
    [ -n "$_ferry_feature" ] && [ "$_ferry_feature" -ge "$FERRY_MIN_JAVA" ]
}

# Sets FERRY_JAVA_HOME and FERRY_JAVA_FEATURE, or prints the ERROR line and returns 1.
ferry_find_java() {
    local on_path="" dir key cached_key cached_home cached_feature candidate best="" best_feature=0
    local -a dirs path_dirs
    IFS=: read -r -a path_dirs <<<"${PATH:-}"
    for dir in "${path_dirs[@]}"; do
        if [ -n "$dir" ] && [ -x "$dir/java" ] && [ ! -d "$dir/java" ]; then
            on_path=$dir/java
            break
        fi
    done
    dirs=("${FERRY_JVM_DIR:-/usr/lib/jvm}"/*)
    key="${JAVA_HOME:-}|$on_path|${dirs[*]}"
    if [ -r "$FERRY_JAVA_CACHE" ] &&
        { IFS= read -r cached_key && IFS= read -r cached_home && IFS= read -r cached_feature; } <"$FERRY_JAVA_CACHE" &&
        [ "$cached_key" = "$key" ] && [ -x "$cached_home/bin/java" ]; then
        FERRY_JAVA_HOME=$cached_home
        FERRY_JAVA_FEATURE=$cached_feature
        return 0
    fi
    if ferry_usable_jdk "${JAVA_HOME:-}"; then
        best=$JAVA_HOME
        best_feature=$_ferry_feature
    elif [ -n "$on_path" ] && candidate=$(dirname "$(dirname "$(readlink -f "$on_path")")") &&
        ferry_usable_jdk "$candidate"; then
        best=$candidate
        best_feature=$_ferry_feature
    else
        for candidate in "${dirs[@]}"; do
            [ -d "$candidate" ] && ferry_usable_jdk "$candidate" || continue
            if [ "$_ferry_feature" -gt "$best_feature" ]; then
                best=$candidate
                best_feature=$_ferry_feature
            fi
        done
    fi
    if [ -z "$best" ]; then
        echo "ERROR: Java $FERRY_MIN_JAVA or newer is required (a JDK with javac); set JAVA_HOME to one, or install one under /usr/lib/jvm" >&2
        return 1
    fi
    FERRY_JAVA_HOME=$best
    FERRY_JAVA_FEATURE=$best_feature
    # Remembered for the next launch; a checkout that cannot be written to just looks again.
    mkdir -p "$FERRY_BUILD_DIR" 2>/dev/null &&
        printf '%s\n' "$key" "$FERRY_JAVA_HOME" "$FERRY_JAVA_FEATURE" >"$FERRY_JAVA_CACHE.$$" 2>/dev/null &&
        mv -f "$FERRY_JAVA_CACHE.$$" "$FERRY_JAVA_CACHE" 2>/dev/null
    rm -f "$FERRY_JAVA_CACHE.$$" 2>/dev/null
    return 0
}

# True when the jar is missing or older than pom.xml, this file, bin/ferry-launch.sh
# (which holds the JVM options the caches are trained with), or any file or
# directory under src/main (a directory's time changes when a file in it is
# added or removed). The jar's time is the start of the build that made it, so
# a source saved during a build counts as changed.
ferry_jar_stale() {
    [ -f "$FERRY_JAR" ] && [ -f "$FERRY_LIBRARIES" ] || return 0
    local path
    for path in "$FERRY_ROOT/pom.xml" "$FERRY_ROOT/bin/ferry-lib.sh" "$FERRY_ROOT/bin/ferry-launch.sh" \
        "$FERRY_ROOT/src/main" "$FERRY_ROOT"/src/main/**; do
        [ "$path" -nt "$FERRY_JAR" ] && return 0
    done
    return 1
}

# True when the start-up caches were not trained by this JDK for this jar.
ferry_cache_stale() {
    local made_with=""
    [ -r "$FERRY_CACHE_JDK" ] && IFS= read -r made_with <"$FERRY_CACHE_JDK"
    [ "$made_with" = "$FERRY_JAVA_HOME" ] && [ "$FERRY_CACHE_JDK" -nt "$FERRY_JAR" ] && return 1
    return 0
}

ferry_build_stale() {
    ferry_jar_stale || ferry_cache_stale
}

# Sets FERRY_JVM_CACHE_OPTS to the options that use program $1's start-up
# cache (server or client), if this JDK trained one. Shows the note of a
# training that failed in the background, if one is left (FERRY_TRAINING_NOTE).
ferry_cache_options() {
    local cache="$FERRY_BUILD_DIR/$1.cache" made_with=""
    FERRY_JVM_CACHE_OPTS=()
    [ ! -s "$FERRY_TRAINING_NOTE" ] || _ferry_training_note
    [ -r "$cache" ] && [ -r "$FERRY_CACHE_JDK" ] && IFS= read -r made_with <"$FERRY_CACHE_JDK"
    [ "$made_with" = "$FERRY_JAVA_HOME" ] || return 0
    # A cache the JVM cannot use only costs start-up time; its complaints must not reach the user.
    if [ "$FERRY_JAVA_FEATURE" -ge 25 ]; then
        FERRY_JVM_CACHE_OPTS=("-XX:AOTCache=$cache" "-Xlog:aot=off,cds=off")
    else
        FERRY_JVM_CACHE_OPTS=("-XX:SharedArchiveFile=$cache" "-Xlog:cds=off")
    fi
}

# Exports what Maven needs to run with the JDK found: JAVA_HOME, and on JDK
# 24+ the option that quiets the warning Maven's own libraries cause.
ferry_maven_env() {
    export JAVA_HOME=$FERRY_JAVA_HOME
    if [ "$FERRY_JAVA_FEATURE" -ge 24 ]; then
        case " ${MAVEN_OPTS:-} " in
            *" --sun-misc-unsafe-memory-access=allow "*) ;;
            *) export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow" ;;
        esac
    fi
}

# Builds the jar with Maven into target/launcher/maven (never target/classes,
# which mvn verify owns), then installs it: the run-time dependencies into
# target/launcher/lib (each under its versioned name, replaced by a rename),
# then their list, then the jar, each by a rename, so a launcher starting
# meanwhile finds the old file or the new one, whole, and every jar the list
# names. The start-up caches of the old jar go first (its JVM would refuse
# them). Output goes to standard output (the build log).
#
# Maven runs the goals of `package` that make the jar, lib/ and the list, one
# by one, and with -Dferry.launcher, which leaves out the tests' dependencies
# (pom.xml, profile "tests"): a first launch fetches no test library and no
# test plugin, and compiles no test.
_ferry_maven_build() {
    local work=$1 dep libraries="" entry
    echo "building ferry with Maven and $FERRY_JAVA_HOME at $(date -u +%FT%TZ)"
    : >"$work/started"
    rm -rf "$FERRY_MAVEN_DIR"
    (
        # Maven's own JVM, for a build of seconds: C1 alone and the serial collector spare the
        # CPU that C2's and G1's threads would take (a first build's Maven time on 2 cores:
        # 23 -> 11-16 s with the local repository filled; the user's MAVEN_OPTS come after, and win).
        cd "$FERRY_ROOT" && export MAVEN_OPTS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC ${MAVEN_OPTS:-}" && ferry_maven_env &&
            mvn --batch-mode --no-transfer-progress -Dstyle.color=never -Dferry.launcher \
                "-Dferry.build.directory=$FERRY_MAVEN_DIR" resources:resources compiler:compile jar:jar \
                dependency:copy-dependencies@runtime-lib dependency:build-classpath@runtime-list </dev/null
    ) || return 1
    mkdir -p "$FERRY_LIB" || return 1
    for dep in "$FERRY_MAVEN_DIR"/lib/*.jar; do
        [ -f "$dep" ] || continue
        cp -p "$dep" "$FERRY_LIB/.${dep##*/}.$$" && mv -f "$FERRY_LIB/.${dep##*/}.$$" "$FERRY_LIB/${dep##*/}" || return 1
    done
    if [ ! -f "$FERRY_MAVEN_DIR/libraries" ]; then
        echo "the build wrote no list of libraries ($FERRY_MAVEN_DIR/libraries)"
        return 1
    fi
    IFS= read -r libraries <"$FERRY_MAVEN_DIR/libraries"
    local -a entries
    IFS=: read -r -a entries <<<"$libraries"
    for entry in "${entries[@]}"; do
        [ -f "$FERRY_BUILD_DIR/$entry" ] || {
            echo "the list of libraries names $entry, which the build did not copy to $FERRY_LIB"
            return 1
        }
    done
    printf '%s\n' "$libraries" >"$work/libraries" && mv -f "$work/libraries" "$FERRY_LIBRARIES" || return 1
    rm -f "$FERRY_CACHE_JDK" "$FERRY_BUILD_DIR/server.cache" "$FERRY_BUILD_DIR/client.cache"
    cp "$FERRY_MAVEN_DIR/ferry.jar" "$work/ferry.jar" && touch -r "$work/started" "$work/ferry.jar" &&
        mv -f "$work/ferry.jar" "$FERRY_JAR"
}

# The last build's duration in seconds, or $1 when there was none.
_ferry_last_seconds() {
    local seconds=""
    [ -r "$FERRY_BUILD_DIR/build-seconds" ] && IFS= read -r seconds <"$FERRY_BUILD_DIR/build-seconds"
    case $seconds in
        "" | *[!0-9]*) seconds=$1 ;;
    esac
    echo "$seconds"
}

# ferry_build_jar [THEN]: builds the jar with Maven when it is missing or
# pom.xml, a source or this file changed, and says so in one line on standard
# error (ferry_note), which THEN ends (what comes after the build). The full
# output goes to target/launcher/build.log, shown only when the build fails.
# Concurrent launchers wait for one another on a lock.
ferry_build_jar() {
    ferry_jar_stale || return 0
    local log="$FERRY_BUILD_DIR/build.log" what
    if ! mkdir -p "$FERRY_BUILD_DIR" 2>/dev/null; then
        echo "ERROR: cannot create the build directory $FERRY_BUILD_DIR" >&2
        return 1
    fi
    if [ ! -f "$FERRY_JAR" ]; then
        what="first run: Maven build, about $(_ferry_last_seconds 25) s${1:+; $1}"
    else
        what="the sources changed: Maven build, about $(_ferry_last_seconds 20) s${1:+; $1}"
    fi
    ferry_note "building ferry ($what) ..."
    (
        if ! flock -w 600 9; then
            echo "ERROR: timed out waiting for another build of ferry to finish ($FERRY_BUILD_DIR/.lock)" >&2
            exit 1
        fi
        ferry_jar_stale || exit 0
        if ! command -v mvn >/dev/null 2>&1; then
            echo "ERROR: building ferry needs Maven (mvn), which is not installed (Debian: apt-get install maven)" >&2
            exit 1
        fi
        local work="$FERRY_BUILD_DIR/work.$$" started=$SECONDS
        rm -rf "$work"
        mkdir -p "$work" || exit 1
        if ! _ferry_maven_build "$work" >"$log" 2>&1; then
            rm -rf "$work"
            echo "ERROR: building ferry failed; the build log ($log) follows" >&2
            tail -n 40 "$log" >&2
            exit 1
        fi
        rm -rf "$work"
        printf '%s\n' $((SECONDS - started)) >"$FERRY_BUILD_DIR/build-seconds"
        exit 0
    ) 9>"$FERRY_BUILD_DIR/.lock"
}

# Trains program $1's start-up cache (ferry.Training $1) into $2/$1.cache,
# within FERRY_TRAINING_TIMEOUT seconds (default 60; tests shorten it). Output
# goes to standard output; on failure, says why in _ferry_why.
_ferry_train() {
    local program=$1 work=$2 limit=${FERRY_TRAINING_TIMEOUT:-60} option status
    local -n opts=FERRY_${program^^}_JVM_OPTS
    if [ "$FERRY_JAVA_FEATURE" -ge 25 ]; then
        option="-XX:AOTCacheOutput=$work/$program.cache"
    else
        option="-XX:ArchiveClassesAtExit=$work/$program.cache"
    fi
    echo "training the $program's start-up cache ($option), at most $limit s"
    timeout --kill-after=5 "$limit" "$FERRY_JAVA_HOME/bin/java" "$option" "${opts[@]}" -cp "$FERRY_JAR" ferry.Training "$program" </dev/null
    status=$?
    if [ $status -eq 0 ] && [ -s "$work/$program.cache" ]; then
        echo "trained the $program's start-up cache"
        return 0
    fi
    rm -f "$work/$program.cache"
    case $status in
        0) _ferry_why="no cache was written" ;;
        124 | 137) _ferry_why="timed out after $limit s" ;;
        *) _ferry_why="exit code $status" ;;
    esac
    echo "no start-up cache for the $program: $_ferry_why"
    return 1
}

# Shows the note a failed background training left (see FERRY_TRAINING_NOTE), if notes are shown.
_ferry_training_note() {
    local note=""
    case ${FERRY_BUILD_NOTES:-auto} in
        always) ;;
        never) return 0 ;;
        *) [ -t 2 ] || return 0 ;;
    esac
    { IFS= read -r note <"$FERRY_TRAINING_NOTE"; } 2>/dev/null
    { : >"$FERRY_TRAINING_NOTE"; } 2>/dev/null
    [ -n "$note" ] && printf '%s\n' "$note" >&2
    return 0
}

# _ferry_train_all WORK TELL: trains both programs' caches side by side in
# WORK, appending their output to target/launcher/build.log, and installs them
# for the JDK found (cache-jdk), under the build's lock and only if the jar is
# still the one trained (a build may have replaced it meanwhile). If either
# training fails (that program then runs without a cache), one note says so:
# now (TELL=now), or through FERRY_TRAINING_NOTE (TELL=later).
_ferry_train_all() {
    local work=$1 tell=$2 log="$FERRY_BUILD_DIR/build.log" program pid note="" failed=() why=()
    local -A pids
    rm -f "$FERRY_CACHE_JDK" "$FERRY_BUILD_DIR/server.cache" "$FERRY_BUILD_DIR/client.cache" "$FERRY_TRAINING_NOTE"
    # The jar trained for, by a second name: a build may replace the jar meanwhile (a
    # file system without hard links goes without that check).
    ln -f "$FERRY_JAR" "$work/trained.jar" 2>/dev/null || : >"$work/no-link"
    for program in server client; do
        ( _ferry_train "$program" "$work" >"$work/train-$program.log" 2>&1 || { printf '%s\n' "$_ferry_why" >"$work/why-$program"; exit 1; } ) &
        pids[$program]=$!
    done
    for program in server client; do
        if ! wait "${pids[$program]}"; then
            failed+=("$program")
            why+=("$program: $(cat "$work/why-$program" 2>/dev/null)")
        fi
        cat "$work/train-$program.log" >>"$log"
    done
    if [ ${#failed[@]} -eq 2 ]; then
        note="note: could not train the server's and the client's start-up caches (${why[0]}; ${why[1]}; see $log); ferry runs without its start-up cache"
    elif [ ${#failed[@]} -eq 1 ]; then
        note="note: could not train the ${failed[0]}'s start-up cache (${why[0]}; see $log); ferry runs without its start-up cache"
    fi
    (
        flock -w 600 9 || exit 1
        [ -e "$work/no-link" ] || [ "$FERRY_JAR" -ef "$work/trained.jar" ] || exit 1
        for program in server client; do
            [ ! -f "$work/$program.cache" ] || mv -f "$work/$program.cache" "$FERRY_BUILD_DIR/$program.cache" || exit 1
        done
        printf '%s\n' "$FERRY_JAVA_HOME" >"$FERRY_CACHE_JDK"
    ) 9>"$FERRY_BUILD_DIR/.lock" || return 1
    [ -n "$note" ] || return 0
    if [ "$tell" = now ]; then
        ferry_note "$note"
    else
        printf '%s\n' "$note" >"$FERRY_TRAINING_NOTE"
    fi
}

# _ferry_train_caches WAIT TELL: trains the start-up caches if they are stale,
# holding the lock target/launcher/.train-lock, which descriptor 8 must have
# open: waiting for another launcher's training to end first (WAIT=wait), or
# leaving it to one under way (WAIT=no). TELL as for _ferry_train_all.
_ferry_train_caches() {
    local wait=$1 tell=$2 work="$FERRY_BUILD_DIR/train.$BASHPID" status
    if [ "$wait" = wait ]; then
        flock -w 600 8 || return 1
    else
        flock -n 8 || return 0
    fi
    ferry_cache_stale || return 0
    rm -rf "$work"
    mkdir -p "$work" || return 1
    _ferry_train_all "$work" "$tell"
    status=$?
    rm -rf "$work"
    return $status
}

# _ferry_train_in_background [NOTE]: starts training the start-up caches in
# the background, with NOTE (ferry_note) if given, and returns at once: this
# launch goes on without them, the next ones use them. A training under way
# already is left to finish. The training holds nothing of the launcher's (no
# standard stream, no socket from systemd, no descriptor but its lock) and is
# no child of it.
_ferry_train_in_background() {
    local lock fd
    # A checkout this user cannot write to runs without caches, and without a word about it.
    { exec {lock}>"$FERRY_BUILD_DIR/.train-lock"; } 2>/dev/null || return 0
    # Taken here, so that once this returns, the training holds the lock.
    if ! flock -n "$lock" || ! ferry_cache_stale; then
        exec {lock}>&-
        return 0
    fi
    [ -z "${1:-}" ] || ferry_note "$1"
    (
        (
            # A terminal's hang-up or ^C, when the launcher's session or job ends, is not for it.
            trap '' HUP INT QUIT
            for fd in /proc/$BASHPID/fd/*; do
                fd=${fd##*/}
                [ "$fd" -gt 2 ] && [ "$fd" != "$lock" ] && eval "exec $fd>&-"
            done
            # The same open file, so the lock it holds: flock -n on it succeeds.
            exec 8>&"$lock" {lock}>&-
            _ferry_train_caches no later
        ) </dev/null >/dev/null 2>&1 &
    )
    exec {lock}>&-
    return 0
}

# For the launchers (./server, ./client): builds the jar with Maven in the
# foreground when needed (ferry_build_jar); then, when the start-up caches were
# not trained by this JDK for this jar, starts their training in the
# background, so that no launch waits for it. A training that fails is told by
# a later launch (FERRY_TRAINING_NOTE).
ferry_launch_build() {
    ferry_build_stale || return 0
    if ferry_jar_stale; then
        ferry_build_jar "start-up caches next, in the background" || return 1
        _ferry_train_in_background
    else
        _ferry_train_in_background "building ferry (start-up caches for $FERRY_JAVA_HOME, in the background) ..."
    fi
}

# For ./run-tests, packaging and the benchmark: builds the jar with Maven when
# needed (ferry_build_jar) and trains the start-up caches when they are missing
# or were made for another jar or JDK, waiting for both; a training that fails
# is one note line, at once.
ferry_build() {
    ferry_build_stale || return 0
    if ferry_jar_stale; then
        ferry_build_jar "start-up caches after it" || return 1
    else
        ferry_note "building ferry (start-up caches for $FERRY_JAVA_HOME, about 10 s) ..."
    fi
    # The caches are optional: a training that could not finish (a lock held too long, a jar rebuilt
    # meanwhile) is a note, never a failed build.
    _ferry_train_caches wait now 8>"$FERRY_BUILD_DIR/.train-lock" ||
        ferry_note "note: the start-up caches were not installed this time (see $FERRY_BUILD_DIR/build.log)"
    return 0
}
