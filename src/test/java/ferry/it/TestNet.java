package ferry.it;

import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/**
 * A private test network of three network namespaces, so that tests can slow
 * down, lose, delay, black-hole and cut real TCP traffic between the real
 * {@code ./client} and {@code ./server}:
 *
 * <pre>
 *   client ns                    router ns                            server ns
 *   198.51.100.130/25 ---veth--- 198.51.100.129/25 | 198.51.100.126/25 ---veth--- 198.51.100.1/25
 *                                                                                 (+ 198.51.100.11-13)
 * </pre>
 *
 * The addresses come from 198.51.100.0/24 (TEST-NET-2, RFC 5737), the client
 * in its upper half and the server in its lower half, and are used inside
 * these namespaces only. Every rule, queue and address lives inside the
 * namespaces and disappears with them; nothing is added to the machine's own
 * network. That matters: the machine itself sits on 192.0.2.0/24 (TEST-NET-1:
 * the development VM's eth0 is 192.0.2.2/24 with its gateway at 192.0.2.1),
 * so the namespaces keep off that range altogether, and an address from
 * either range in the host namespace could hijack its traffic.
 *
 * <p>Why a router in the middle: loss, black holes and cuts are applied to
 * forwarded packets, as on a real path ({@code iptables DROP} in a sender's own
 * OUTPUT chain returns EPERM to that sender instead of looking like loss), and
 * only a router's queue can build a long delay (TCP small queues keep a
 * sender's own queue a millisecond short). {@code tc netem} is not available,
 * so a long delay is made the way a busy link makes one: a deep queue that a
 * filler keeps full ({@link #standingQueue}).
 *
 * <p>Names are unique per test JVM and instance: namespaces
 * {@code ferry-<pid>-<n>-client|router|server}, veth ends {@code f<pid>n<n>c|a|b|s}
 * (at most 13 characters). {@link #create()} first removes whatever a killed
 * earlier run left behind (namespaces of a dead pid and the processes still in
 * them, its {@code /etc/netns} entries), and {@link #close()} removes everything,
 * also when a test failed; a shutdown hook covers a JVM that is stopped.
 */
final class TestNet implements AutoCloseable {
    /** The server's address. */
    static final String SERVER_IP = "198.51.100.1";
    /** The client's address. */
    static final String CLIENT_IP = "198.51.100.130";
    /** More addresses of the server host, for a name with several addresses. */
    static final List<String> EXTRA_SERVER_IPS = List.of("198.51.100.11", "198.51.100.12", "198.51.100.13");
    /** The port the tests' server listens on; the namespaces are private, so no other process can hold it. */
    static final int PORT = 7000;

    private static final String PREFIX = "ferry-";
    private static final Pattern OWN_NAMESPACE = Pattern.compile("ferry-(\\d+)-\\d+-(client|router|server)");
    private static final Pattern OWN_VETH = Pattern.compile("f(\\d+)n\\d+[cabs]");
    private static final Duration COMMAND_DEADLINE = Duration.ofSeconds(20);
    private static final AtomicInteger INSTANCES = new AtomicInteger();
    private static boolean swept;

    final String clientNs;
    final String routerNs;
    final String serverNs;
    /** The veth ends: client's, router's toward the client, router's toward the server, server's. */
    private final String clientIf;
    private final String routerClientIf;
    private final String routerServerIf;
    private final String serverIf;
    private final List<Process> helpers = new ArrayList<>();
    private final Thread shutdownHook = new Thread(this::close, "testnet-cleanup");
    private Path etcNetns;
    private boolean closed;

    private TestNet(long pid, int n) {
        String base = PREFIX + pid + "-" + n + "-";
        clientNs = base + "client";
        routerNs = base + "router";
        serverNs = base + "server";
        String veth = "f" + pid + "n" + n;
        clientIf = veth + "c";
        routerClientIf = veth + "a";
        routerServerIf = veth + "b";
        serverIf = veth + "s";
    }

    /** Skips the calling test (with the reason) unless namespaces, veth, iptables and tc can be used. */
    static void assumeAvailable() {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
                "network namespace tests need root (CI runs them as root)");
        for (String command : List.of("ip", "iptables", "tc")) {
            Assumptions.assumeTrue(Ferry.has(command), "network namespace tests need `" + command + "` on the PATH");
        }
    }

    /** Builds the three namespaces and their links; skips the test if the kernel or container refuses. */
    static TestNet create() throws IOException, InterruptedException {
        assumeAvailable();
        sweepStale();
        var net = new TestNet(ProcessHandle.current().pid(), INSTANCES.incrementAndGet());
        Runtime.getRuntime().addShutdownHook(net.shutdownHook);
        try {
            net.build();
        } catch (IOException e) {
            net.close();
            Assumptions.abort("cannot build a test network here: " + e.getMessage());
        }
        return net;
    }

    private void build() throws IOException, InterruptedException {
        for (String ns : List.of(clientNs, routerNs, serverNs)) {
            sh("ip", "netns", "add", ns);
            sh("ip", "-n", ns, "link", "set", "lo", "up");
        }
        // Both ends are created inside their namespaces: no veth ever appears in the host's.
        sh("ip", "link", "add", clientIf, "netns", clientNs, "type", "veth", "peer", "name", routerClientIf,
                "netns", routerNs);
        sh("ip", "link", "add", serverIf, "netns", serverNs, "type", "veth", "peer", "name", routerServerIf,
                "netns", routerNs);
        address(clientNs, clientIf, CLIENT_IP + "/25");
        address(routerNs, routerClientIf, "198.51.100.129/25");
        address(routerNs, routerServerIf, "198.51.100.126/25");
        address(serverNs, serverIf, SERVER_IP + "/25");
        for (String extra : EXTRA_SERVER_IPS) {
            sh("ip", "-n", serverNs, "addr", "add", extra + "/25", "dev", serverIf);
        }
        // Senders hand veth 64 KB GSO packets, which the router would forward, lose and queue whole:
        // one segment per packet, so that "5% loss" means 5% of the segments, as on a wire.
        sh("ip", "-n", clientNs, "link", "set", "dev", clientIf, "gso_max_segs", "1");
        sh("ip", "-n", serverNs, "link", "set", "dev", serverIf, "gso_max_segs", "1");
        sh("ip", "-n", clientNs, "route", "add", "default", "via", "198.51.100.129");
        sh("ip", "-n", serverNs, "route", "add", "default", "via", "198.51.100.126");
        in(routerNs, "sysctl", "-qw", "net.ipv4.ip_forward=1");
        in(routerNs, "iptables", "-nL", "FORWARD");
    }

    private static void address(String ns, String dev, String cidr) throws IOException, InterruptedException {
        sh("ip", "-n", ns, "addr", "add", cidr, "dev", dev);
        sh("ip", "-n", ns, "link", "set", dev, "up");
    }

    // ---- shaping, loss, black holes and cuts (all in the router) ----

    /**
     * Limits both directions to {@code rate} (tc syntax, e.g. "40mbit") with an
     * htb class whose queue holds up to {@code queueBytes}.
     */
    void shape(String rate, long queueBytes) throws IOException, InterruptedException {
        for (String dev : List.of(routerClientIf, routerServerIf)) {
            // r2q 100 keeps htb's quantum in its valid range for rates of about 1 to 150 Mbit/s.
            tc("qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "1", "r2q", "100");
            tc("class", "add", "dev", dev, "parent", "1:", "classid", "1:1", "htb", "rate", rate);
            tc("qdisc", "add", "dev", dev, "parent", "1:1", "handle", "10:", "bfifo", "limit",
                    Long.toString(queueBytes));
        }
    }

    /** Drops each forwarded packet with probability {@code p}, independently in each direction. */
    void loss(double p) throws IOException, InterruptedException {
        for (String dev : List.of(routerClientIf, routerServerIf)) {
            in(routerNs, "iptables", "-A", "FORWARD", "-i", dev, "-m", "statistic", "--mode", "random",
                    "--probability", Double.toString(p), "-j", "DROP");
        }
    }

    /** Packets the {@link #loss} rules have dropped so far, both directions together. */
    long lostPackets() throws IOException, InterruptedException {
        long lost = 0;
        for (String line : in(routerNs, "iptables", "-nvxL", "FORWARD").split("\n")) {
            if (line.contains("statistic")) {
                lost += Long.parseLong(line.trim().split("\\s+")[0]);
            }
        }
        return lost;
    }

    /** Drops every TCP SYN: connecting to any address of the server hangs, as with a black hole. */
    void dropSyns() throws IOException, InterruptedException {
        in(routerNs, "iptables", "-I", "FORWARD", "-p", "tcp", "--syn", "-j", "DROP");
    }

    /** Drops every TCP SYN toward {@code address} only: that one address is a black hole. */
    void dropSynsTo(String address) throws IOException, InterruptedException {
        in(routerNs, "iptables", "-I", "FORWARD", "-p", "tcp", "--syn", "-d", address, "-j", "DROP");
    }

    /** Cuts the path silently: every packet, both ways, is dropped from now on. */
    void dropAll() throws IOException, InterruptedException {
        in(routerNs, "iptables", "-I", "FORWARD", "-j", "DROP");
    }

    /** Takes the router's link toward the server down (the server's end loses its carrier). */
    void serverLinkDown() throws IOException, InterruptedException {
        sh("ip", "-n", routerNs, "link", "set", routerServerIf, "down");
    }

    /**
     * Keeps about {@code bytes} queued on the router's link toward the client, so
     * that everything the server sends (its ACKs) waits behind them: a standing
     * queue, i.e. a long round-trip time, as on a busy link with a deep buffer.
     * Call after {@link #shape} with a queue deeper than {@code bytes}. The
     * filler is a UDP sender in the router whose socket buffer is forced to
     * {@code bytes}: it blocks while that much of its data is queued, so it sends
     * exactly as fast as the link drains (a few % CPU) and never overflows the
     * queue. Its datagrams are dropped on arrival in the client namespace.
     * Returns once at least half of {@code bytes} is queued.
     */
    void standingQueue(int bytes) throws IOException, InterruptedException {
        Assumptions.assumeTrue(Ferry.has("python3"), "the standing-queue filler needs python3");
        in(clientNs, "iptables", "-A", "INPUT", "-p", "udp", "--dport", "9", "-j", "DROP");
        String filler = String.join("\n",
                "import errno, os, socket, sys, threading, time",
                "def watch():",
                "    sys.stdin.buffer.read()  # end of file: the test JVM has gone",
                "    os._exit(0)",
                "threading.Thread(target=watch, daemon=True).start()",
                "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)",
                "s.setsockopt(socket.SOL_SOCKET, 32, int(sys.argv[2]))  # SO_SNDBUFFORCE",
                "s.connect((sys.argv[1], 9))",
                "data = bytes(1400)",
                "while True:",
                "    try:",
                "        s.send(data)",
                "    except OSError as e:",
                "        if e.errno != errno.ENOBUFS:",
                "            raise",
                "        time.sleep(0.001)",
                "");
        // The pipe on stdin stays open for the filler's life: it exits when the JVM does.
        Process process = new ProcessBuilder("ip", "netns", "exec", routerNs, "python3", "-c", filler, CLIENT_IP,
                Integer.toString(bytes))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        helpers.add(process);
        // A connection opened before the queue stands would measure a short round trip (BBR then
        // paces itself by that minimum for 10 s): wait until at least half of it is there.
        if (!Ferry.await(Duration.ofSeconds(15), () -> queuedBytes(routerClientIf) >= bytes / 2)) {
            fail("the standing queue toward the client did not build up to %d bytes within 15 s (%d now)",
                    bytes / 2, queuedBytes(routerClientIf));
        }
    }

    /** Bytes waiting in the router's queue on {@code dev} (htb's backlog), or -1 if unknown. */
    private long queuedBytes(String dev) {
        try {
            Matcher m = Pattern.compile("backlog (\\d+)b").matcher(tc("-s", "qdisc", "show", "dev", dev));
            long most = -1;
            while (m.find()) {
                most = Math.max(most, Long.parseLong(m.group(1)));
            }
            return most;
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    /**
     * The client's smoothed round-trip time on its connection to the server's
     * {@link #PORT}, as the kernel reports it ({@code ss -ti}), in milliseconds.
     */
    OptionalDouble clientRttMillis() throws IOException, InterruptedException {
        String out = in(clientNs, "ss", "-tin", "state", "established", "dst", SERVER_IP + ":" + PORT);
        Matcher m = Pattern.compile("(?<![a-z_])rtt:([0-9.]+)/").matcher(out);
        return m.find() ? OptionalDouble.of(Double.parseDouble(m.group(1))) : OptionalDouble.empty();
    }

    /**
     * Makes {@code name} resolve, in the client namespace only, to {@code addresses}
     * (in that order): {@code ip netns exec} mounts {@code /etc/netns/<ns>/hosts}
     * over {@code /etc/hosts}.
     */
    void clientHosts(String name, List<String> addresses) throws IOException {
        etcNetns = Path.of("/etc/netns", clientNs);
        Files.createDirectories(etcNetns);
        var hosts = new StringBuilder("127.0.0.1 localhost\n");
        addresses.forEach(a -> hosts.append(a).append(' ').append(name).append('\n'));
        Files.writeString(etcNetns.resolve("hosts"), hosts);
    }

    // ---- processes in the namespaces ----

    /** Starts {@code command} in namespace {@code ns} from the repository root, stdin from {@code input} (null: none). */
    static Proc start(String ns, List<String> command, Map<String, String> env, Path input) throws IOException {
        var full = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        full.addAll(command);
        return Proc.start(full, env, input == null ? null : Proc.from(input));
    }

    /** Starts {@code ./client host PORT file} in the client namespace. */
    Proc startClient(String host, Path file, Map<String, String> env) throws IOException {
        return start(clientNs, Proc.clientCommand(host, PORT, file.toString()), env, null);
    }

    /** Runs {@code ./client host PORT file} in the client namespace to completion. */
    Ferry.Result client(String host, Path file, Map<String, String> env, Duration deadline)
            throws IOException, InterruptedException {
        try (Proc client = startClient(host, file, env)) {
            return client.awaitExit(deadline);
        }
    }

    /**
     * Starts {@code ./server PORT dir} in the server namespace, on the fixed
     * {@link #PORT} (the namespace is private), and waits until it listens.
     */
    Ferry.Server startServer(Path dir, Map<String, String> env) throws IOException {
        return Ferry.Server.start(List.of("ip", "netns", "exec", serverNs), List.of(), PORT, dir.toString(), dir, env);
    }

    // ---- cleanup ----

    /** Removes everything; each step is guarded so that the rest still run. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Process helper : helpers) {
            helper.destroyForcibly();
            try {
                helper.waitFor(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (String ns : List.of(clientNs, routerNs, serverNs)) {
            removeNamespace(ns);
        }
        if (etcNetns != null) {
            deleteTree(etcNetns);
        }
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException e) {
            // Already shutting down: this is the hook.
        }
    }

    /** Kills what still runs in {@code ns}, then deletes it (its veth ends go with it). */
    private static void removeNamespace(String ns) {
        try {
            for (String pid : sh("ip", "netns", "pids", ns).split("\\s+")) {
                if (!pid.isEmpty()) {
                    ProcessHandle.of(Long.parseLong(pid)).ifPresent(ProcessHandle::destroyForcibly);
                }
            }
        } catch (IOException | InterruptedException | RuntimeException e) {
            // Not there (never created): nothing to kill.
        }
        try {
            sh("ip", "netns", "del", ns);
        } catch (IOException | InterruptedException e) {
            // Not there (never created, or removed already).
        }
    }

    /**
     * Removes what earlier runs left when they were killed before closing:
     * namespaces and veths whose pid is no longer alive, their processes,
     * and their {@code /etc/netns} entries. Runs once per JVM.
     */
    private static synchronized void sweepStale() throws IOException, InterruptedException {
        if (swept) {
            return;
        }
        swept = true;
        for (String line : sh("ip", "netns", "list").split("\n")) {
            String ns = line.trim().split("\\s+")[0];
            Matcher m = OWN_NAMESPACE.matcher(ns);
            if (m.matches() && dead(m.group(1))) {
                removeNamespace(ns);
            }
        }
        for (String line : sh("ip", "-o", "link", "show").split("\n")) {
            String[] f = line.split(":\\s+");
            if (f.length > 1) {
                String name = f[1].replaceFirst("@.*", "");
                Matcher m = OWN_VETH.matcher(name);
                if (m.matches() && dead(m.group(1))) {
                    try {
                        sh("ip", "link", "del", name);
                    } catch (IOException e) {
                        // Gone with its peer a moment ago.
                    }
                }
            }
        }
        Path etc = Path.of("/etc/netns");
        if (Files.isDirectory(etc)) {
            try (Stream<Path> entries = Files.list(etc)) {
                entries.filter(p -> {
                    Matcher m = OWN_NAMESPACE.matcher(p.getFileName().toString());
                    return m.matches() && dead(m.group(1));
                }).forEach(TestNet::deleteTree);
            }
        }
    }

    private static boolean dead(String pid) {
        return ProcessHandle.of(Long.parseLong(pid)).map(p -> !p.isAlive()).orElse(true);
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> walk = Files.walk(dir)) {
            walk.sorted((a, b) -> b.getNameCount() - a.getNameCount()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // Best effort: the next run's sweep tries again.
        }
    }

    // ---- commands ----

    private String tc(String... args) throws IOException, InterruptedException {
        var command = new ArrayList<>(List.of("tc", "-n", routerNs));
        command.addAll(List.of(args));
        return sh(command.toArray(String[]::new));
    }

    /** Runs a command inside namespace {@code ns}; returns its standard output. */
    static String in(String ns, String... command) throws IOException, InterruptedException {
        var full = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        full.addAll(List.of(command));
        return sh(full.toArray(String[]::new));
    }

    /** Runs a command to completion; returns its standard output, or throws with its error output. */
    static String sh(String... command) throws IOException, InterruptedException {
        try (var process = Proc.start(List.of(command), Map.of(), null)) {
            if (!process.process().waitFor(COMMAND_DEADLINE.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new IOException(String.join(" ", command) + ": still running after " + COMMAND_DEADLINE);
            }
            if (process.process().exitValue() != 0) {
                throw new IOException(String.join(" ", command) + ": exit " + process.process().exitValue() + ": "
                        + process.stderr().strip());
            }
            return process.stdout();
        }
    }
}
