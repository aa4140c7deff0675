package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import ferry.common.HostileStrings;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Random hostile argument strings through the real launchers: each run ends
 * with a non-zero exit and a single {@code ERROR:} line (plus the usage line
 * for a wrong count), nothing on standard output, never a stack trace.
 * The arguments are chosen so that no run can succeed or send a DNS query:
 * hosts are literals or contain a space, ports are invalid, refused or in use,
 * and never {@code --help} or {@code --version} (which succeed).
 */
class HostileArgumentsIT {
    private static final long SEED = 4242L;
    private static final int RUNS = 15;
    private static final Duration DEADLINE = Duration.ofSeconds(60);

    @TempDir
    Path tmp;

    private static void assertOneErrorLine(List<String> args, Ferry.Result result) {
        String what = "arguments " + args.stream().map(a -> a.length() > 40 ? a.substring(0, 40) + "..." : a).toList();
        assertThat(result.exitCode()).as(what).isIn(1, 2);
        assertThat(result.stdout()).as(what).isEmpty();
        List<String> lines = result.stderr().lines().toList();
        assertThat(lines).as(what).isNotEmpty().hasSizeLessThanOrEqualTo(2);
        assertThat(lines.get(0)).as(what).startsWith("ERROR: ");
        if (lines.size() == 2) {
            assertThat(lines.get(1)).as(what).startsWith("usage: ");
        }
        assertThat(result.stderr()).as(what).doesNotContain("Exception").doesNotContain("\tat ");
    }

    private static boolean validPort(String text) {
        return text.matches("[0-9]{1,5}") && Integer.parseInt(text) >= 1 && Integer.parseInt(text) <= 65535;
    }

    @Test
    void theClientAnswersRandomArgumentsWithOneErrorLine() throws Exception {
        Path file = Files.writeString(tmp.resolve("file"), "x");
        var random = new Random(SEED);
        try (var reserved = new Ports.Refusing()) {
            String refused = Integer.toString(reserved.port);
            List<String> literals = List.of("127.0.0.1", "::1", "[::1]", "localhost");
            for (int i = 0; i < RUNS; i++) {
                String host = random.nextBoolean() ? HostileStrings.next(random) + " x" : literals.get(random.nextInt(4));
                String port = HostileStrings.next(random);
                port = validPort(port) ? refused : port;
                // --help and --version succeed, by design (a port comes first once the host is dropped below).
                port = List.of("--help", "-h", "--version").contains(port) ? "--no-such-option" : port;
                String name = List.of(file.toString(), tmp.toString(), tmp.resolve("missing").toString(),
                        HostileStrings.next(random)).get(random.nextInt(4));
                var args = new ArrayList<>(List.of(host, port, name));
                if (random.nextInt(5) == 0) {
                    args.remove(random.nextInt(3));
                }
                assertOneErrorLine(args, Ferry.run("client", args, Map.of(), DEADLINE));
            }
        }
    }

    @Test
    void theServerAnswersRandomArgumentsWithOneErrorLine() throws Exception {
        Path file = Files.writeString(tmp.resolve("plain-file"), "x");
        var random = new Random(SEED);
        try (var taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress(0));
            String inUse = Integer.toString(taken.getLocalPort());
            for (int i = 0; i < RUNS; i++) {
                String port = HostileStrings.next(random);
                port = validPort(port) ? inUse : port;
                // --help and --version succeed, by design; every other leading option is tried.
                port = List.of("--help", "-h", "--version").contains(port) ? "--no-such-option" : port;
                String dir = List.of(file.toString(), file + "/" + HostileStrings.next(random),
                        tmp + "/d/" + HostileStrings.next(random)).get(random.nextInt(3));
                var args = new ArrayList<>(List.of(port, dir));
                if (random.nextInt(5) == 0) {
                    args.add(HostileStrings.next(random));
                }
                assertOneErrorLine(args, Ferry.run("server", args, Map.of(), DEADLINE));
            }
        }
    }
}
