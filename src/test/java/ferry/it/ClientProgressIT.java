package ferry.it;

import static ferry.it.Ferry.assertSucceeded;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The client's options and its progress line, through the real
 * {@code ./client}: {@code --help} and {@code --version}; a bad option; and,
 * with standard error on a real pseudo-terminal (util-linux {@code script}),
 * the progress line redrawn in place, ended by the summary or before an
 * {@code ERROR:} line, and silenced by {@code --quiet}; with standard error
 * not a terminal, nothing at all, and one summary line for {@code --verbose}.
 *
 * <p>The receiver, in this process, reads at a limited rate through a small
 * receive buffer, so that an upload lasts a few seconds and the line is
 * redrawn several times.
 */
class ClientProgressIT {
    /** 12 MiB: several seconds at {@link #RATE}, after the kernel's buffers (a few MB) have filled. */
    private static final long SIZE = 12L << 20;
    /** Bytes a second the slow receiver reads: 4 MiB/s. */
    private static final long RATE = 4L << 20;
    private static final Duration DEADLINE = Duration.ofSeconds(60);
    private static final String USAGE = "usage: ./client <HOSTNAME-OR-IP> <PORT> <FILENAME>";
    /** A redraw while sending a file of known size: bytes, size, percent, rate, time left. */
    private static final Pattern SENDING = Pattern.compile(
            "sending: \\d+(\\.\\d)? (B|KiB|MiB) of 12\\.0 MiB \\(\\d{1,2}%\\), \\d+(\\.\\d)? (B|KiB|MiB|GiB)/s, ETA (\\d+:\\d\\d|--:--) *");

    @TempDir
    static Path files;
    private static Path file;

    @BeforeAll
    static void createFileAndBuild() throws Exception {
        file = Ferry.randomFile(files, "upload.bin", SIZE, 9);
        // A first run builds the launcher jar, so that no run below includes a build (or its note).
        var build = Ferry.run("client", List.of(), Map.of(), Ferry.START_DEADLINE);
        assertThat(build.exitCode()).as("./client without arguments: %s", build.stderr()).isEqualTo(2);
    }

    // ---- help, version, bad options ---------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"--help", "-h"})
    void helpGoesToStandardOutputWithExitCode0(String flag) throws Exception {
        var result = Ferry.run("client", List.of(flag), Map.of(), DEADLINE);
        assertThat(result.exitCode()).isZero();
        assertThat(result.stderr()).isEmpty();
        assertThat(result.stdout()).startsWith("usage: ./client [OPTIONS] <HOSTNAME-OR-IP> <PORT> <FILENAME>\n")
                .contains("-q, --quiet   (FERRY_QUIET)").contains("-v, --verbose   (FERRY_VERBOSE)")
                .contains("--timeout-ms MS   (FERRY_CLIENT_TIMEOUT_MS)").contains("default: 10000")
                .contains("Exit codes: 0 ");
    }

    @Test
    void versionGoesToStandardOutputWithExitCode0() throws Exception {
        var result = Ferry.run("client", List.of("--version"), Map.of(), DEADLINE);
        assertThat(result.exitCode()).isZero();
        assertThat(result.stderr()).isEmpty();
        assertThat(result.stdout()).matches("ferry-client \\(ferry\\) \\S+, Java \\S+\n");
    }

    @Test
    void anUnknownOptionIsAnErrorLineThenTheUsageAndExitCode2() throws Exception {
        var result = Ferry.run("client", List.of("--bogus", "127.0.0.1", "9", file.toString()), Map.of(), DEADLINE);
        assertThat(result.exitCode()).isEqualTo(2);
        assertThat(result.stdout()).isEmpty();
        assertThat(result.stderr()).isEqualTo("ERROR: unknown option \"--bogus\" (--help lists them)\n" + USAGE + "\n");
    }

    @Test
    void quietAndVerboseFlagsTogetherAreOneErrorLineAndExitCode2() throws Exception {
        var result = Ferry.run("client", List.of("--quiet", "--verbose", "127.0.0.1", "9", file.toString()), Map.of(),
                DEADLINE);
        assertThat(result.exitCode()).isEqualTo(2);
        assertThat(result.stdout()).isEmpty();
        assertThat(result.stderr()).isEqualTo("ERROR: --quiet and --verbose cannot be used together\n");
    }

    @Test
    void aWrongArgumentCountIsStillTheErrorLineThenTheUsage() throws Exception {
        var result = Ferry.run("client", List.of("-q", "127.0.0.1", "9"), Map.of(), DEADLINE);
        assertThat(result.exitCode()).isEqualTo(2);
        assertThat(result.stderr()).isEqualTo("ERROR: expected 3 arguments, got 2\n" + USAGE + "\n");
    }

    // ---- the progress line on a terminal --------------------------------------------------------

    /**
     * <ol>
     * <li>A receiver reads 12 MiB at 4 MiB/s; {@code ./client} sends it with
     * standard error on a pseudo-terminal.</li>
     * <li>The terminal shows at least two redraws of the sending line (bytes, size,
     * percent, rate, ETA), each after a {@code \r}, no more than about four a
     * second, none that is redrawn later wider than 79 columns.</li>
     * <li>The line ends as the summary with the exact byte count, then a newline,
     * and nothing follows; the exit code is 0 and every byte arrived.</li>
     * </ol>
     */
    @Test
    void onATerminalTheProgressLineIsRedrawnInPlaceAndEndsAsTheSummary() throws Exception {
        try (var receiver = FaultPeer.serve(FaultPeer.Policy.trickle(RATE))) {
            var result = onTerminal(List.of("127.0.0.1", Integer.toString(receiver.port()), file.toString()), Map.of());

            assertThat(result.exitCode()).as("exit code; terminal: %s", result.stdout()).isZero();
            assertThat(receiver.received().bytes()).isEqualTo(SIZE);
            String screen = result.stdout();
            assertThat(screen).as("the terminal").startsWith("\r").endsWith("; confirmed\n");
            List<String> frames = frames(screen);
            List<String> sending = frames.stream().filter(frame -> frame.startsWith("sending: ")).toList();
            assertThat(sending).as("redraws while sending: %s", frames).hasSizeGreaterThanOrEqualTo(2)
                    .allSatisfy(frame -> assertThat(frame).matches(SENDING));
            assertThat(sending).as("a time left is shown").anyMatch(frame -> frame.matches(".*ETA \\d+:\\d\\d *"));
            assertThat(frames.subList(0, frames.size() - 1)).as("lines redrawn later")
                    .allSatisfy(frame -> assertThat(frame.length()).isLessThanOrEqualTo(79));
            // Four redraws a second, and a few lines of other states (connecting, confirming, the summary).
            double seconds = result.elapsed().toMillis() / 1000.0;
            assertThat(frames.size()).as("redraws in %s s: %s", seconds, frames).isLessThanOrEqualTo((int) (seconds * 4.5) + 3);
            assertThat(frames.getLast()).matches("sent " + SIZE + " bytes \\(12\\.0 MiB\\) to 127\\.0\\.0\\.1:"
                    + receiver.port() + " in \\d+\\.\\d\\d s \\(\\d+\\.\\d (KiB|MiB)/s\\); confirmed *\n");
            assertThat(screen.indexOf('\n')).as("one line in all").isEqualTo(screen.length() - 1);
        }
    }

    /** The same upload with standard error a file: nothing at all on it, as for curl and pv. */
    @Test
    void withStandardErrorNotATerminalNothingIsDrawn() throws Exception {
        try (var receiver = FaultPeer.serve(FaultPeer.Policy.trickle(RATE))) {
            var result = Ferry.client("127.0.0.1", receiver.port(), file, Map.of());

            assertSucceeded(result);
            assertThat(receiver.received().bytes()).isEqualTo(SIZE);
            assertThat(result.elapsed()).as("long enough for redraws, had there been a terminal")
                    .isGreaterThan(Duration.ofMillis(1500));
        }
    }

    /** {@code --quiet}, {@code -q} or {@code FERRY_QUIET=1} on a terminal: not a byte on it. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"--quiet", "-q", "FERRY_QUIET=1"})
    void quietOnATerminalDrawsNothing(String how) throws Exception {
        try (var receiver = FaultPeer.serve(FaultPeer.Policy.trickle(RATE))) {
            var args = new ArrayList<String>();
            if (how.startsWith("-")) {
                args.add(how);
            }
            args.addAll(List.of("127.0.0.1", Integer.toString(receiver.port()), file.toString()));
            var result = onTerminal(args, how.startsWith("-") ? Map.of() : Map.of("FERRY_QUIET", "1"));

            assertThat(result.exitCode()).as("exit code; terminal: %s", result.stdout()).isZero();
            assertThat(result.stdout()).as("the terminal").isEmpty();
            assertThat(receiver.received().bytes()).isEqualTo(SIZE);
            assertThat(result.elapsed()).as("long enough for redraws").isGreaterThan(Duration.ofMillis(1500));
        }
    }

    /** {@code --verbose} with standard error a file: exactly one line, the summary, with the byte count. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"--verbose", "-v", "FERRY_VERBOSE=1"})
    void verbosePrintsOneSummaryLine(String how) throws Exception {
        try (var receiver = FaultPeer.serve(FaultPeer.Policy.drain())) {
            var args = new ArrayList<String>();
            if (how.startsWith("-")) {
                args.add(how);
            }
            args.addAll(List.of("127.0.0.1", Integer.toString(receiver.port()), file.toString()));
            var result = Ferry.run("client", args, how.startsWith("-") ? Map.of() : Map.of("FERRY_VERBOSE", "1"),
                    DEADLINE);

            assertThat(result.exitCode()).as("exit code; stderr: %s", result.stderr()).isZero();
            assertThat(result.stdout()).isEmpty();
            assertThat(result.stderr()).matches("sent " + SIZE + " bytes \\(12\\.0 MiB\\) to 127\\.0\\.0\\.1:"
                    + receiver.port() + " in \\d+\\.\\d\\d s \\(\\d+\\.\\d (KiB|MiB|GiB)/s\\); confirmed\n");
            assertThat(receiver.received().bytes()).isEqualTo(SIZE);
        }
    }

    /** Standard input of unknown length: the summary counts the bytes that were streamed. */
    @Test
    void verboseCountsAStreamFromStandardInput() throws Exception {
        try (var receiver = FaultPeer.serve(FaultPeer.Policy.drain())) {
            var result = Ferry.exec(List.of(Ferry.ROOT.resolve("client").toString(), "-v", "127.0.0.1",
                    Integer.toString(receiver.port()), "-"), Map.of(), file, DEADLINE);

            assertThat(result.exitCode()).as("exit code; stderr: %s", result.stderr()).isZero();
            assertThat(result.stderr()).startsWith("sent " + SIZE + " bytes (12.0 MiB) to 127.0.0.1:")
                    .endsWith("; confirmed\n").hasLineCount(1);
        }
    }

    /** {@code --verbose} on a terminal: the progress line ends as the summary, which appears once. */
    @Test
    void verboseOnATerminalEndsWithTheOneSummary() throws Exception {
        try (var receiver = FaultPeer.serve(FaultPeer.Policy.trickle(RATE))) {
            var result = onTerminal(List.of("-v", "127.0.0.1", Integer.toString(receiver.port()), file.toString()),
                    Map.of());

            assertThat(result.exitCode()).as("exit code; terminal: %s", result.stdout()).isZero();
            String screen = result.stdout();
            assertThat(screen.split("confirmed", -1)).as("one summary: %s", screen).hasSize(2);
            assertThat(frames(screen).getLast()).startsWith("sent " + SIZE + " bytes ").endsWith("; confirmed\n");
        }
    }

    /**
     * <ol>
     * <li>A receiver reads 6 MiB slowly, then resets the connection; {@code ./client}
     * sends 12 MiB with standard error on a pseudo-terminal.</li>
     * <li>The progress line was drawn, and is ended (by a newline) before the
     * {@code ERROR:} line, which starts a line of its own and ends the output;
     * the exit code is 1.</li>
     * </ol>
     */
    @Test
    void anErrorOnATerminalStartsOnALineOfItsOwn() throws Exception {
        try (var receiver = FaultPeer.serve(FaultPeer.Policy.trickle(RATE).resetAfter(6L << 20))) {
            var result = onTerminal(List.of("127.0.0.1", Integer.toString(receiver.port()), file.toString()), Map.of());

            assertThat(result.exitCode()).as("exit code; terminal: %s", result.stdout()).isEqualTo(1);
            String screen = result.stdout();
            int error = screen.indexOf("ERROR: ");
            assertThat(error).as("an ERROR line: %s", screen).isPositive();
            assertThat(screen.substring(0, error)).as("the progress line before it")
                    .contains("sending: ").endsWith("\n");
            assertThat(screen.substring(error)).as("the ERROR line, last")
                    .matches("ERROR: [^\r\n]*the server reset the connection[^\r\n]*\n");
        }
    }

    /**
     * <ol>
     * <li>{@code ./client} sends 12 MiB to a slow receiver with standard error on a
     * pseudo-terminal (SIGINT at its default, as in an interactive shell).</li>
     * <li>Once the terminal shows the sending line, the client's JVM gets SIGINT (Ctrl-C).</li>
     * <li>It exits 130, and the line it leaves is ended by a newline, so that the
     * shell's prompt starts on a line of its own.</li>
     * </ol>
     */
    @Test
    void ctrlCOnATerminalEndsTheLine() throws Exception {
        assumeThat(Ferry.has("script")).as("util-linux script (package bsdutils) makes the terminal").isTrue();
        try (var receiver = FaultPeer.serve(FaultPeer.Policy.trickle(RATE / 4))) {
            // A background job of a script ignores SIGINT, and the JVM keeps an ignored SIGINT ignored.
            String command = "exec python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL);"
                    + " os.execv(sys.argv[1], sys.argv[1:])' " + quote(Ferry.ROOT.resolve("client").toString())
                    + " 127.0.0.1 " + receiver.port() + " " + quote(file.toString());
            try (var script = Proc.start(List.of("script", "-qec", command, "/dev/null"), Map.of(), null)) {
                assertThat(Ferry.await(DEADLINE, () -> script.stdout().contains("sending: ")))
                        .as("a sending line on the terminal: %s", script.stdout()).isTrue();
                script.signalJvm("INT");
                assertThat(script.awaitExit(DEADLINE).exitCode()).as("the client's exit code, through script")
                        .isEqualTo(130);
                String shown = script.stdout().replace("\r\n", "\n");
                assertThat(frames(shown).getLast()).as("the last state, then a newline: %s", shown)
                        .startsWith("sending: ").endsWith("\n");
                assertThat(shown).as("no ERROR line for Ctrl-C").doesNotContain("ERROR");
            }
        }
    }

    /** The ERROR line of a connection refused at once: no progress line was drawn, nothing precedes it. */
    @Test
    void aQuickErrorOnATerminalIsTheErrorLineAlone() throws Exception {
        try (var refusing = new Ports.Refusing()) {
            var result = onTerminal(List.of("127.0.0.1", Integer.toString(refusing.port), file.toString()), Map.of());
            assertThat(result.exitCode()).isEqualTo(1);
            assertThat(result.stdout()).isEqualTo("ERROR: connection refused by 127.0.0.1:" + refusing.port
                    + " (is the server running?)\n");
        }
    }

    // ---- helpers ----------------------------------------------------------------------------

    /**
     * Runs {@code ./client args} with standard output and standard error on a
     * new pseudo-terminal ({@code script -qec}); what the terminal showed is the
     * result's standard output, with the terminal's {@code \r\n} turned back into {@code \n}.
     */
    private static Ferry.Result onTerminal(List<String> args, Map<String, String> env) throws Exception {
        assumeThat(Ferry.has("script")).as("util-linux script (package bsdutils) makes the terminal").isTrue();
        var command = new StringBuilder("exec ").append(quote(Ferry.ROOT.resolve("client").toString()));
        for (String arg : args) {
            command.append(' ').append(quote(arg));
        }
        var result = Ferry.exec(List.of("script", "-qec", command.toString(), "/dev/null"), env, null, DEADLINE);
        return new Ferry.Result(result.exitCode(), result.stdout().replace("\r\n", "\n"), result.stderr(),
                result.elapsed());
    }

    private static String quote(String arg) {
        return "'" + arg.replace("'", "'\\''") + "'";
    }

    /** The states the line showed: the text after each {@code \r}, the last with its newline. */
    private static List<String> frames(String screen) {
        return Arrays.stream(screen.split("\r")).filter(frame -> !frame.isEmpty()).toList();
    }
}
