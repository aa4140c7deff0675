# Shared by ./server, ./client and ./run-tests: find a JDK >= 21 and keep the
# launcher jar, and the JVM's start-up cache, built from the sources. Sourced,
# not run; FERRY_ROOT must be set.
#
# JDK search order: $JAVA_HOME if new enough, else `java` on the PATH if new
# enough, else the newest JDK under /usr/lib/jvm (FERRY_JVM_DIR overrides that
# folder, for tests).
#
# Every launch passes through here, so the common path uses bash builtins
# only (no command is started before java): the JDK found is remembered in
# target/launcher/java-home together with what it was found from, and the
# sources are compared with the jar by their times.

FERRY_MIN_JAVA=21
FERRY_BUILD_DIR="$FERRY_ROOT/target/launcher"
FERRY_JAR="$FERRY_BUILD_DIR/ferry.jar"
FERRY_JAVA_CACHE="$FERRY_BUILD_DIR/java-home"
# The JVM's start-up cache: the AOT cache on JDK 25+, a CDS archive before.
# cache-jdk names the JDK it was made with ("none ..." if that JDK could not make one).
FERRY_CDS="$FERRY_BUILD_DIR/ferry.cds"
FERRY_CDS_JDK="$FERRY_BUILD_DIR/cache-jdk"
shopt -s globstar

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

# True when $1 is a JDK home of a new enough version, with the tools a build needs.
ferry_usable_jdk() {
    [ -n "$1" ] && [ -x "$1/bin/javac" ] && [ -x "$1/bin/jar" ] || return 1
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

# True when the jar is missing or older than any source file or directory
# (a directory's time changes when a file in it is added or removed).
ferry_jar_stale() {
    [ -f "$FERRY_JAR" ] || return 0
    local path
    for path in "$FERRY_ROOT/bin/ferry-lib.sh" "$FERRY_ROOT/src/main/java" "$FERRY_ROOT"/src/main/java/**; do
        [ "$path" -nt "$FERRY_JAR" ] && return 0
    done
    return 1
}

# True when the start-up cache was not made by this JDK for this jar (or tried and given up).
ferry_cache_stale() {
    local made_with=""
    [ -r "$FERRY_CDS_JDK" ] && IFS= read -r made_with <"$FERRY_CDS_JDK"
    case $made_with in
        "$FERRY_JAVA_HOME" | "none $FERRY_JAVA_HOME") [ "$FERRY_CDS_JDK" -nt "$FERRY_JAR" ] && return 1 ;;
    esac
    return 0
}

ferry_build_stale() {
    ferry_jar_stale || ferry_cache_stale
}

# Sets FERRY_JVM_CACHE_OPTS to the options that use the start-up cache, if this JDK made one.
ferry_cache_options() {
    local made_with=""
    FERRY_JVM_CACHE_OPTS=()
    [ -r "$FERRY_CDS" ] && [ -r "$FERRY_CDS_JDK" ] && IFS= read -r made_with <"$FERRY_CDS_JDK"
    [ "$made_with" = "$FERRY_JAVA_HOME" ] || return 0
    # A cache the JVM cannot use only costs start-up time; its complaints must not reach the user.
    if [ "$FERRY_JAVA_FEATURE" -ge 25 ]; then
        FERRY_JVM_CACHE_OPTS=("-XX:AOTCache=$FERRY_CDS" "-Xlog:aot=off,cds=off")
    else
        FERRY_JVM_CACHE_OPTS=("-XX:SharedArchiveFile=$FERRY_CDS" "-Xlog:cds=off")
    fi
}

# Makes the start-up cache with a training run (ferry.Training: one upload on
# loopback). A JDK that cannot make one leaves a note, and ferry runs without.
_ferry_train() {
    local work=$1 made="none $FERRY_JAVA_HOME" option
    if [ "$FERRY_JAVA_FEATURE" -ge 25 ]; then
        option="-XX:AOTCacheOutput=$work/ferry.cds"
    else
        option="-XX:ArchiveClassesAtExit=$work/ferry.cds"
    fi
    echo "training the start-up cache ($option)"
    if "$FERRY_JAVA_HOME/bin/java" "$option" -XX:+UseSerialGC -XX:-UsePerfData -cp "$FERRY_JAR" ferry.Training &&
        [ -s "$work/ferry.cds" ] && mv -f "$work/ferry.cds" "$FERRY_CDS"; then
        made=$FERRY_JAVA_HOME
    else
        echo "no start-up cache: ferry starts without one"
        rm -f "$FERRY_CDS"
    fi
    printf '%s\n' "$made" >"$FERRY_CDS_JDK"
}

# Compiles src/main/java into target/launcher/ferry.jar when the sources
# changed, and makes the start-up cache when it is missing or was made for
# another jar or JDK. Output goes to target/launcher/build.log and is shown
# only when the build fails. Concurrent launchers wait for one another on a lock.
ferry_build() {
    ferry_build_stale || return 0
    local log="$FERRY_BUILD_DIR/build.log"
    if ! mkdir -p "$FERRY_BUILD_DIR" 2>/dev/null; then
        echo "ERROR: cannot create the build directory $FERRY_BUILD_DIR" >&2
        return 1
    fi
    (
        if ! flock -w 300 9; then
            echo "ERROR: timed out waiting for another build of ferry to finish ($FERRY_BUILD_DIR/.lock)" >&2
            exit 1
        fi
        ferry_build_stale || exit 0
        local work="$FERRY_BUILD_DIR/work.$$" status=0
        rm -rf "$work"
        mkdir -p "$work/classes"
        {
            if ferry_jar_stale; then
                echo "building ferry with $FERRY_JAVA_HOME at $(date -u +%FT%TZ)"
                find "$FERRY_ROOT/src/main/java" -name '*.java' >"$work/sources" &&
                    "$FERRY_JAVA_HOME/bin/javac" --release "$FERRY_MIN_JAVA" -encoding UTF-8 -g -Xlint:all \
                        -d "$work/classes" @"$work/sources" &&
                    "$FERRY_JAVA_HOME/bin/jar" --create --file "$work/ferry.jar" -C "$work/classes" . &&
                    mv -f "$work/ferry.jar" "$FERRY_JAR" || status=1
            fi
            [ $status -ne 0 ] || _ferry_train "$work"
        } >"$log" 2>&1
        rm -rf "$work"
        if [ $status -ne 0 ]; then
            echo "ERROR: building ferry failed; the build log ($log) follows" >&2
            tail -n 40 "$log" >&2
            exit 1
        fi
    ) 9>"$FERRY_BUILD_DIR/.lock"
}
