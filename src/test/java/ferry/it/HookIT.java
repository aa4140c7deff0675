package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The upload hook ({@code --on-upload CMD}) through the real launcher: the
 * path and the upload's facts reach it, whatever the upload's outcome; it
 * never holds up an upload or another hook; at most {@code jobs} run at once;
 * the timeout ends it and what it started; its exit status and stderr are
 * logged, as text or JSON; and a stop waits for it, bounded, then ends it.
 */
class HookIT {
    private static final Duration DEADLINE = Duration.ofSeconds(10);

    @TempDir
    Path tmp;

    /** Where the hooks write what they saw; the server passes it on to them ({@code --on-upload-env}). */
    private Path out;

    private Map<String, String> env(String... more) throws IOException {
        out = Files.createDirectories(tmp.resolve("out"));
        var env = new java.util.HashMap<String, String>();
        env.put("HOOK_OUT", out.toString());
        env.put("FERRY_ON_UPLOAD_ENV", "HOOK_OUT");
        for (int i = 0; i < more.length; i += 2) {
            env.put(more[i], more[i + 1]);
        }
        return env;
    }

    /** Writes a {@code /bin/sh} script and returns it as a command line, quoted. */
    private String script(String body) throws IOException {
        Path script = tmp.resolve("hook.sh");
        Files.writeString(script, "#!/bin/sh\nset -u\n" + body);
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
        return "'" + script + "'";
    }

    /** Sends {@code data}, half-closes and returns how long the server took to confirm (close in turn). */
    private static Duration upload(int port, byte[] data) throws IOException {
        try (var socket = FaultPeer.connect(port)) {
            socket.setSoTimeout((int) DEADLINE.toMillis());
            socket.getOutputStream().write(data);
            long sent = System.nanoTime();
            FaultPeer.finish(socket);
            return Duration.ofNanos(System.nanoTime() - sent);
        }
    }

    private static Duration upload(int port, String text) throws IOException {
        return upload(port, text.getBytes(StandardCharsets.UTF_8));
    }

    /** Waits for connection {@code n}'s hook line and returns it. */
    private static String awaitHookLine(Ferry.Server server, long n, Duration deadline) {
        return server.awaitLine(deadline, " ferry: hook conn=" + n + " ");
    }

    private void awaitFile(String name, Duration deadline) {
        assertThat(Ferry.await(deadline, () -> Files.exists(out.resolve(name))))
                .as("the hook writes %s within %s", name, deadline).isTrue();
    }

    private String read(String name) {
        return Ferry.readOrEmpty(out.resolve(name));
    }

    /** True while process {@code pid} runs (a zombie, dead but not yet reaped, does not). */
    private static boolean running(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            char state = stat.charAt(stat.lastIndexOf(')') + 2);
            return state != 'Z' && state != 'X';
        } catch (IOException e) {
            return false;
        }
    }

    private long pidIn(String name) {
        return Long.parseLong(read(name).trim());
    }

    private static final String RECORD_ENVIRONMENT = """
            {
                printf 'argc=%s\\n' "$#"
                printf 'arg=%s\\n' "$1"
                for name in CONN FILE BYTES OUTCOME PEER SHA256 REASON; do
                    eval "printf '%s=%s\\n' $name \\"\\$FERRY_$name\\""
                done
            } > "$HOOK_OUT/$FERRY_CONN.tmp"
            mv "$HOOK_OUT/$FERRY_CONN.tmp" "$HOOK_OUT/$FERRY_CONN.env"
            """;

    /**
     * <ol>
     * <li>A server with {@code --checksum sha256} runs a hook that writes its argument and environment out.</li>
     * <li>A complete upload: the one argument and FERRY_FILE are its file's path; FERRY_CONN, FERRY_BYTES,
     * FERRY_PEER and FERRY_OUTCOME=complete match it, FERRY_SHA256 is the sent bytes' SHA-256, FERRY_REASON
     * is empty.</li>
     * <li>An upload reset by its sender, and one left silent past a 500 ms idle timeout: their hooks run too,
     * with outcome reset and idle-timeout, a reason, no checksum, and the path of the file reading ERROR.</li>
     * </ol>
     */
    @Test
    void theHookGetsThePathAndTheUploadsFactsWhateverTheOutcome() throws Exception {
        Path dir = tmp.resolve("files");
        byte[] data = Ferry.randomBytes(70_000, 9);
        try (var server = Ferry.Server.start(List.of(), List.of("--checksum", "sha256", "--on-upload",
                script(RECORD_ENVIRONMENT)), dir, env("FERRY_IDLE_TIMEOUT_MS", "500"))) {
            try (var socket = FaultPeer.connect(server.port)) {
                socket.setSoTimeout((int) DEADLINE.toMillis());
                socket.getOutputStream().write(data);
                FaultPeer.finish(socket);
                awaitFile("1.env", DEADLINE);
                String sha256 = Checksums.sha256(data);
                assertThat(read("1.env")).isEqualTo("argc=1\narg=" + dir.resolve("1.file") + "\nCONN=1\nFILE="
                        + dir.resolve("1.file") + "\nBYTES=70000\nOUTCOME=complete\nPEER=127.0.0.1:"
                        + socket.getLocalPort() + "\nSHA256=" + sha256 + "\nREASON=\n");
            }
            try (var socket = FaultPeer.connect(server.port)) {
                socket.getOutputStream().write("cut short".getBytes(StandardCharsets.US_ASCII));
                socket.setSoLinger(true, 0); // close with a reset
            }
            awaitFile("2.env", DEADLINE);
            assertThat(read("2.env")).contains("argc=1\narg=" + dir.resolve("2.file") + "\n", "\nBYTES=9\n",
                    "\nOUTCOME=reset\n", "\nSHA256=\n").containsPattern("\nREASON=.+\n");
            Ferry.awaitError(dir.resolve("2.file"), DEADLINE);

            try (var socket = FaultPeer.connect(server.port)) {
                socket.getOutputStream().write("then silence".getBytes(StandardCharsets.US_ASCII));
                awaitFile("3.env", DEADLINE);
            }
            assertThat(read("3.env")).contains("arg=" + dir.resolve("3.file") + "\n", "\nBYTES=12\n",
                    "\nOUTCOME=idle-timeout\n", "\nSHA256=\n").containsPattern("\nREASON=.+\n");
            assertThat(dir.resolve("3.file")).hasContent("ERROR");
            assertThat(awaitHookLine(server, 3, DEADLINE)).contains(" exit=0 ", " outcome=idle-timeout file="
                    + dir.resolve("3.file"));
            Ferry.stop(server);
        }
    }

    /**
     * <ol>
     * <li>FILE-DIR's name holds spaces, quotes, $(...), ; and * — and the command line (FERRY_ON_UPLOAD, this
     * time) itself uses "$1".</li>
     * <li>An upload's hook gets exactly one argument, the file's path, byte for byte; nothing in it ran.</li>
     * </ol>
     */
    @Test
    void aPathWithSpacesAndShellMetacharactersIsPassedIntact() throws Exception {
        Path dir = tmp.resolve("a dir $(touch PWNED) `touch PWNED2`; & 'q' \"dq\" * $HOME \\");
        String command = "printf '%s|%s' \"$#\" \"$1\" > \"$HOOK_OUT/arg\"; true";
        try (var server = Ferry.Server.start(List.of(), List.of(), dir, env("FERRY_ON_UPLOAD", command))) {
            upload(server.port, "x");
            awaitFile("arg", DEADLINE);
            assertThat(read("arg")).isEqualTo("1|" + dir.resolve("1.file"));
            Ferry.stop(server);
        }
        assertThat(Ferry.ROOT.resolve("PWNED")).doesNotExist();
        assertThat(Ferry.ROOT.resolve("PWNED2")).doesNotExist();
    }

    /**
     * <ol>
     * <li>Two hooks may run at once; upload 1's hook sleeps 60 s.</li>
     * <li>While it sleeps, uploads 2 and 3 are each confirmed within a second of their half-close, and
     * ./client's upload 4 succeeds.</li>
     * <li>Their hooks run and finish, on the second job, while hook 1 still sleeps.</li>
     * </ol>
     */
    @Test
    void aSlowHookDelaysNoUploadAndNoOtherHook() throws Exception {
        String command = script("""
                if [ "$FERRY_CONN" = 1 ]; then
                    touch "$HOOK_OUT/1.started"
                    sleep 60
                fi
                touch "$HOOK_OUT/$FERRY_CONN.done"
                """);
        try (var server = Ferry.Server.start(List.of(), List.of("--on-upload", command, "--on-upload-jobs", "2"),
                tmp.resolve("files"), env())) {
            upload(server.port, "one");
            awaitFile("1.started", DEADLINE);
            assertThat(upload(server.port, "two")).isLessThan(Duration.ofSeconds(1));
            assertThat(upload(server.port, "three")).isLessThan(Duration.ofSeconds(1));
            Path file = Files.writeString(tmp.resolve("four"), "four");
            assertThat(Ferry.client("127.0.0.1", server.port, file, Map.of()).exitCode()).isZero();
            awaitFile("2.done", DEADLINE);
            awaitFile("3.done", DEADLINE);
            awaitFile("4.done", DEADLINE);
            assertThat(out.resolve("1.done")).doesNotExist();
            assertThat(server.stdout()).doesNotContain("ferry: hook conn=1 ");
        }
    }

    /**
     * <ol>
     * <li>With FERRY_ON_UPLOAD_JOBS=2, six uploads arrive at once; each hook notes its start and end
     * times around a 700 ms sleep.</li>
     * <li>All six run; at no moment do more than two overlap, and two do.</li>
     * </ol>
     */
    @Test
    void noMoreThanJobsHooksRunAtOnce() throws Exception {
        String command = script("""
                date +%s%N > "$HOOK_OUT/$FERRY_CONN.start"
                sleep 0.7
                date +%s%N > "$HOOK_OUT/$FERRY_CONN.tmp"
                mv "$HOOK_OUT/$FERRY_CONN.tmp" "$HOOK_OUT/$FERRY_CONN.end"
                """);
        try (var server = Ferry.Server.start(List.of(), List.of("--on-upload", command), tmp.resolve("files"),
                env("FERRY_ON_UPLOAD_JOBS", "2"))) {
            for (int i = 1; i <= 6; i++) {
                upload(server.port, "upload " + i);
            }
            for (int i = 1; i <= 6; i++) {
                awaitFile(i + ".end", Duration.ofSeconds(20));
            }
            var spans = new ArrayList<long[]>();
            for (int i = 1; i <= 6; i++) {
                spans.add(new long[] {Long.parseLong(read(i + ".start").trim()), Long.parseLong(read(i + ".end").trim())});
            }
            int most = 0;
            for (long[] span : spans) {
                int overlapping = (int) spans.stream().filter(s -> s[0] <= span[0] && span[0] < s[1]).count();
                most = Math.max(most, overlapping);
            }
            assertThat(most).as("hooks running at once, at most").isEqualTo(2);
            Ferry.stop(server);
        }
    }

    /**
     * <ol>
     * <li>The hook's timeout is 1 s (FERRY_ON_UPLOAD_TIMEOUT_MS); each hook starts a background child,
     * writes a line to stderr and waits for ever; the second also ignores SIGTERM (and so does its child).</li>
     * <li>The first is ended by SIGTERM a second after it started: logged with exit=143, timed-out=true and
     * its stderr; its child is gone too.</li>
     * <li>The second (the script, under the shell that runs the command line) outlives SIGTERM and is
     * killed 2 s later, with its child; only then is it logged (the shell's exit=143).</li>
     * </ol>
     */
    @Test
    void theTimeoutEndsAHookAndWhatItStartedAndIsLogged() throws Exception {
        String command = script("""
                [ "$FERRY_CONN" = 2 ] && trap '' TERM
                echo $$ > "$HOOK_OUT/$FERRY_CONN.pid"
                sleep 300 &
                echo $! > "$HOOK_OUT/$FERRY_CONN.child"
                echo "hanging on $1" >&2
                wait
                """);
        Path dir = tmp.resolve("files");
        try (var server = Ferry.Server.start(List.of(), List.of("--on-upload", command, "--on-upload-jobs", "2"), dir,
                env("FERRY_ON_UPLOAD_TIMEOUT_MS", "1000"))) {
            upload(server.port, "one");
            upload(server.port, "two");
            String first = awaitHookLine(server, 1, DEADLINE);
            assertThat(first).matches(".* ferry: hook conn=1 exit=143 ms=1\\d\\d\\d timed-out=true outcome=complete file="
                    + Pattern.quote(dir.resolve("1.file").toString()) + " stderr=\"hanging on "
                    + Pattern.quote(dir.resolve("1.file").toString()) + "\"");
            long child = pidIn("1.child");
            assertThat(Ferry.await(DEADLINE, () -> !running(child))).as("the first hook's child is gone").isTrue();

            String second = awaitHookLine(server, 2, DEADLINE);
            assertThat(second).matches(".* ferry: hook conn=2 exit=143 ms=3\\d\\d\\d timed-out=true .*");
            long secondHook = pidIn("2.pid");
            assertThat(running(secondHook)).as("the second hook's script is gone when logged").isFalse();
            long secondChild = pidIn("2.child");
            assertThat(Ferry.await(DEADLINE, () -> !running(secondChild))).as("the second hook's child is gone")
                    .isTrue();
            Ferry.stop(server);
        }
    }

    /**
     * <ol>
     * <li>A hook writes 3000 bytes and then a last line to stderr, and exits 7.</li>
     * <li>Its log line says exit=7 and holds the last 1 KiB of its stderr (cut marked with "..."), ending in
     * the last line.</li>
     * <li>With a command that does not exist, the shell's exit status 127 and its complaint are logged, and
     * the server goes on serving.</li>
     * </ol>
     */
    @Test
    void theExitStatusAndTheTailOfStderrAreLogged() throws Exception {
        String command = script("""
                head -c 3000 /dev/zero | tr '\\0' x >&2
                printf '\\nlast words on %s\\n' "$FERRY_OUTCOME" >&2
                exit 7
                """);
        try (var server = Ferry.Server.start(List.of(), List.of("--on-upload", command), tmp.resolve("files"), env())) {
            upload(server.port, "one");
            String line = awaitHookLine(server, 1, DEADLINE);
            assertThat(line).matches(".* ferry: hook conn=1 exit=7 ms=\\d+ outcome=complete file=\\S+ stderr=\"\\.\\.\\.x+"
                    + "\\\\x0alast words on complete\"");
            String kept = line.substring(line.indexOf("stderr=\"...") + 11, line.length() - 1)
                    .replace("\\x0a", "\n");
            assertThat(kept.length()).as("stderr kept").isBetween(1000, 1024);
            Ferry.stop(server);
        }
        try (var server = Ferry.Server.start(List.of(), List.of("--on-upload", "no-such-command-for-ferry-hooks"),
                tmp.resolve("files2"), env())) {
            upload(server.port, "one");
            assertThat(awaitHookLine(server, 1, DEADLINE)).matches(
                    ".* hook conn=1 exit=127 ms=\\d+ outcome=complete file=\\S+ stderr=\".*no-such-command-for-ferry-hooks.*not found\"");
            upload(server.port, "two");
            assertThat(awaitHookLine(server, 2, DEADLINE)).contains(" exit=127 ");
            assertThat(tmp.resolve("files2").resolve("2.file")).hasContent("two");
            Ferry.stop(server);
        }
    }

    /**
     * <ol>
     * <li>The server runs in a mount namespace where /bin/sh cannot be executed (/dev/null is mounted on it).</li>
     * <li>Each upload is saved and confirmed; its hook is logged as one line, error="cannot run /bin/sh: ...";
     * the server goes on and stops cleanly.</li>
     * </ol>
     */
    @Test
    void aHookThatCannotStartIsLoggedAndTheServerGoesOn() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")) && Ferry.has("unshare"),
                "hiding /bin/sh needs root and unshare (CI has both)");
        // The shell is the wrapper's: it has started already when /dev/null covers it.
        var wrapper = List.of("unshare", "--mount", "--propagation", "private", "sh", "-c",
                "mount --bind /dev/null \"$(readlink -f /bin/sh)\" && exec \"$@\"", "sh");
        try (var server = Ferry.Server.start(wrapper, List.of("--on-upload", "true"), tmp.resolve("files"), env())) {
            upload(server.port, "one");
            assertThat(awaitHookLine(server, 1, DEADLINE))
                    .matches(".* ferry: hook conn=1 error=\"cannot run /bin/sh: .+\" outcome=complete file=\\S+");
            upload(server.port, "two");
            awaitHookLine(server, 2, DEADLINE);
            assertThat(tmp.resolve("files").resolve("2.file")).hasContent("two");
            Ferry.stop(server);
            assertThat(server.stdout()).contains(" ferry: stopped");
        }
    }

    private static final String STOP_SCRIPT = """
            case "$FERRY_CONN" in
                1) echo "$FERRY_OUTCOME" > "$HOOK_OUT/1.ran" ;;
                2) echo $$ > "$HOOK_OUT/2.pid"
                   sleep 300 &
                   echo $! > "$HOOK_OUT/2.child"
                   wait ;;
                3) touch "$HOOK_OUT/3.started"
                   sleep 1
                   touch "$HOOK_OUT/3.done" ;;
            esac
            """;

    /**
     * <ol>
     * <li>Three jobs. Upload 1 is in flight (no half-close); upload 2's hook (and its child) would run for
     * five minutes; upload 3's hook takes a second.</li>
     * <li>SIGTERM while hooks 2 and 3 run: ./server exits 0 within 5 s (3 s of grace, then the ending).</li>
     * <li>Hook 3 was waited for (exit=0); hook 1, of the upload the stop cut short, ran during the stop with
     * outcome shutdown; hook 2 was ended at the grace period's end (exit=143, stopped=true) and neither it
     * nor its child is left; the server's last line is "stopped".</li>
     * </ol>
     */
    @Test
    void aStopWaitsForRunningHooksWithinItsGraceThenEndsThem() throws Exception {
        try (var server = Ferry.Server.start(List.of(), List.of("--on-upload", script(STOP_SCRIPT),
                "--on-upload-jobs", "3"), tmp.resolve("files"), env());
             var inFlight = FaultPeer.connect(server.port)) {
            inFlight.getOutputStream().write("partial".getBytes(StandardCharsets.US_ASCII));
            assertThat(Ferry.await(DEADLINE, () -> Files.exists(server.dir.resolve("1.file")))).isTrue();
            upload(server.port, "two");
            awaitFile("2.child", DEADLINE);
            upload(server.port, "three");
            awaitFile("3.started", DEADLINE);

            long stopAt = System.nanoTime();
            server.signal("TERM");
            assertThat(server.awaitExit(DEADLINE)).isZero();
            Duration took = Duration.ofNanos(System.nanoTime() - stopAt);
            assertThat(took).isLessThan(Duration.ofSeconds(5));

            String log = server.stdout();
            assertThat(out.resolve("3.done")).exists();
            assertThat(log).containsPattern(" ferry: hook conn=3 exit=0 ms=1\\d\\d\\d outcome=complete ");
            assertThat(read("1.ran")).isEqualTo("shutdown\n");
            assertThat(log).containsPattern(" ferry: hook conn=1 exit=0 ms=\\d+ outcome=shutdown ");
            assertThat(log).containsPattern(" ferry: hook conn=2 exit=143 ms=\\d+ stopped=true outcome=complete ");
            long hook = pidIn("2.pid");
            long child = pidIn("2.child");
            assertThat(Ferry.await(Duration.ofSeconds(2), () -> !running(hook) && !running(child)))
                    .as("hook 2 and its child are gone").isTrue();
            assertThat(log.lines().reduce((a, b) -> b).orElse("")).endsWith(" ferry: stopped");
        }
    }

    /**
     * <ol>
     * <li>One job. Upload 1's hook ignores SIGTERM and sleeps; upload 2's hook waits in the queue.</li>
     * <li>SIGTERM: ./server exits 0 within 5 s; hook 1 was ended (stopped=true; the shell that runs the
     * command line ends at SIGTERM, the script under it is killed), hook 2 is logged as skipped, and nothing
     * of hook 1 is left.</li>
     * </ol>
     */
    @Test
    void aStopKillsAHookThatIgnoresSigtermAndSkipsQueuedOnes() throws Exception {
        String command = script("""
                trap '' TERM
                echo $$ > "$HOOK_OUT/$FERRY_CONN.pid"
                sleep 300
                """);
        try (var server = Ferry.Server.start(List.of(), List.of("--on-upload", command, "--on-upload-jobs", "1"),
                tmp.resolve("files"), env())) {
            upload(server.port, "one");
            awaitFile("1.pid", DEADLINE);
            upload(server.port, "two");
            long stopAt = System.nanoTime();
            server.signal("TERM");
            assertThat(server.awaitExit(DEADLINE)).isZero();
            assertThat(Duration.ofNanos(System.nanoTime() - stopAt)).isLessThan(Duration.ofSeconds(5));
            String log = server.stdout();
            assertThat(log).containsPattern(" ferry: hook conn=1 exit=\\d+ ms=\\d+ stopped=true outcome=complete ");
            assertThat(log).contains(" ferry: hook conn=2 skipped=\"the server stopped before it could run\" "
                    + "outcome=complete file=" + server.dir.resolve("2.file"));
            assertThat(out.resolve("2.pid")).doesNotExist();
            long hook = pidIn("1.pid");
            assertThat(Ferry.await(Duration.ofSeconds(2), () -> !running(hook))).as("hook 1 is gone").isTrue();
            assertThat(log.lines().reduce((a, b) -> b).orElse("")).endsWith(" ferry: stopped");
        }
    }

    /**
     * <ol>
     * <li>With {@code --log-format json}, a hook writes a line with quotes and a tab to stderr and exits 3.</li>
     * <li>Every log line is valid JSON (python3's parser); the hook event has conn, file, outcome (strings and
     * numbers as such), exit 3, ms, timed_out false, stopped false and the stderr text exactly.</li>
     * </ol>
     */
    @Test
    void theJsonLogHasAValidHookEvent() throws Exception {
        assumeTrue(Ferry.has("python3"), "python3 parses the JSON log");
        String command = script("""
                printf 'said "hi"\\tthere\\n' >&2
                exit 3
                """);
        Path dir = tmp.resolve("files");
        try (var server = Ferry.Server.start(List.of(), List.of("--log-format", "json", "--on-upload", command),
                dir, env())) {
            upload(server.port, "one");
            assertThat(Ferry.await(DEADLINE, () -> server.stdout().contains("\"event\":\"hook\""))).isTrue();
            Ferry.stop(server);
            Path log = tmp.resolve("log.json");
            Files.writeString(log, server.stdout());
            var parsed = Ferry.exec(List.of("python3", "-c", """
                    import json, sys
                    for line in open(sys.argv[1]):
                        event = json.loads(line)
                        if event["event"] == "hook":
                            print(json.dumps({k: v for k, v in event.items() if k != "time"}, sort_keys=True))
                    """, log.toString()), Map.of(), null, DEADLINE);
            assertThat(parsed.exitCode()).as("every line parses; stderr: %s", parsed.stderr()).isZero();
            assertThat(parsed.stdout().strip()).matches(Pattern.quote("{\"conn\": 1, \"event\": \"hook\", \"exit\": 3, "
                    + "\"file\": \"" + dir.resolve("1.file") + "\", \"ms\": ") + "\\d+" + Pattern.quote(", \"outcome\": "
                    + "\"complete\", \"stderr\": \"said \\\"hi\\\"\\tthere\", \"stopped\": false, \"timed_out\": false}"));
        }
    }
}
