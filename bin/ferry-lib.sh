# Shared by ./server, ./client and ./run-tests: find a JDK >= 21 and keep the
# launcher jar built from the sources. Sourced, not run; FERRY_ROOT must be set.
#
# JDK search order: $JAVA_HOME if new enough, else `java` on the PATH if new
# enough, else the newest JDK under /usr/lib/jvm (FERRY_JVM_DIR overrides that
# folder, for tests).

FERRY_MIN_JAVA=21
FERRY_BUILD_DIR="$FERRY_ROOT/target/launcher"
FERRY_JAR="$FERRY_BUILD_DIR/ferry.jar"

# Prints the feature version (17, 21, 25 ...) of the JDK at $1, or nothing.
ferry_java_feature() {
    local home=$1 version=""
    [ -x "$home/bin/java" ] || return 0
    if [ -r "$home/release" ]; then
        version=$(sed -n 's/^JAVA_VERSION="\([0-9][0-9.]*\).*/\1/p' "$home/release")
    fi
    if [ -z "$version" ]; then
        version=$("$home/bin/java" -version 2>&1 | sed -n '1s/.*version "\([0-9][0-9.]*\).*/\1/p')
    fi
    case $version in
        1.*) version=${version#1.} ;;
    esac
    printf '%s' "${version%%.*}"
}

# True when $1 is a JDK home of a new enough version, with the tools a build needs.
ferry_usable_jdk() {
    local feature
    [ -n "$1" ] && [ -x "$1/bin/javac" ] && [ -x "$1/bin/jar" ] || return 1
    feature=$(ferry_java_feature "$1")
    [ -n "$feature" ] && [ "$feature" -ge "$FERRY_MIN_JAVA" ]
}

# Sets FERRY_JAVA_HOME, or prints the ERROR line and returns 1.
ferry_find_java() {
    local candidate java_on_path best="" best_feature=0 feature
    if ferry_usable_jdk "${JAVA_HOME:-}"; then
        FERRY_JAVA_HOME=$JAVA_HOME
        return 0
    fi
    if java_on_path=$(command -v java 2>/dev/null); then
        candidate=$(dirname "$(dirname "$(readlink -f "$java_on_path")")")
        if ferry_usable_jdk "$candidate"; then
            FERRY_JAVA_HOME=$candidate
            return 0
        fi
    fi
    for candidate in "${FERRY_JVM_DIR:-/usr/lib/jvm}"/*; do
        [ -d "$candidate" ] && ferry_usable_jdk "$candidate" || continue
        feature=$(ferry_java_feature "$candidate")
        if [ "$feature" -gt "$best_feature" ]; then
            best=$candidate
            best_feature=$feature
        fi
    done
    if [ -n "$best" ]; then
        FERRY_JAVA_HOME=$best
        return 0
    fi
    echo "ERROR: Java $FERRY_MIN_JAVA or newer is required (a JDK with javac); set JAVA_HOME to one, or install one under /usr/lib/jvm" >&2
    return 1
}

# True when the jar is missing or older than any source file or directory.
ferry_build_stale() {
    [ -f "$FERRY_JAR" ] || return 0
    [ -n "$(find "$FERRY_ROOT/src/main/java" "$FERRY_ROOT/bin/ferry-lib.sh" -newer "$FERRY_JAR" -print -quit 2>/dev/null)" ]
}

# Compiles src/main/java into target/launcher/ferry.jar when the sources
# changed. Output goes to target/launcher/build.log and is shown only when the
# build fails. Concurrent launchers wait for one another on a lock.
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
        local work="$FERRY_BUILD_DIR/work.$$"
        rm -rf "$work"
        mkdir -p "$work/classes"
        {
            echo "building ferry with $FERRY_JAVA_HOME at $(date -u +%FT%TZ)"
            find "$FERRY_ROOT/src/main/java" -name '*.java' >"$work/sources" &&
                "$FERRY_JAVA_HOME/bin/javac" --release "$FERRY_MIN_JAVA" -encoding UTF-8 -g -Xlint:all \
                    -d "$work/classes" @"$work/sources" &&
                "$FERRY_JAVA_HOME/bin/jar" --create --file "$work/ferry.jar" -C "$work/classes" . &&
                mv -f "$work/ferry.jar" "$FERRY_JAR"
        } >"$log" 2>&1
        local status=$?
        rm -rf "$work"
        if [ $status -ne 0 ]; then
            echo "ERROR: building ferry failed; the build log ($log) follows" >&2
            tail -n 40 "$log" >&2
            exit 1
        fi
    ) 9>"$FERRY_BUILD_DIR/.lock"
}
