package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code --metrics [ADDR:]PORT} through the real launcher: uploads with
 * different outcomes from nc and raw sockets, scraped over HTTP, checked by
 * {@code promtool} and by a real Prometheus server; the library loaded only
 * with the option; bad values and a port in use.
 */
class MetricsIT {
    private static final Duration DEADLINE = Duration.ofSeconds(20);

    @TempDir
    Path tmp;

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    /** GET {@code url}: the body of a 200 answer, or "" for anything else (not up yet, refused). */
    private static String get(String url) {
        try {
            var response = HTTP.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).build(),
                    HttpResponse.BodyHandlers.ofString());
            return response.statusCode() == 200 ? response.body() : "";
        } catch (IOException e) {
            return "";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "";
        }
    }

    private static String scrape(int metricsPort) {
        return get("http://127.0.0.1:" + metricsPort + "/metrics");
    }

    /** The value of the one sample named {@code sample} (labels as written), or NaN when absent. */
    static double value(String scrape, String sample) {
        var matcher = Pattern.compile("^" + Pattern.quote(sample) + " (\\S+)$", Pattern.MULTILINE).matcher(scrape);
        return matcher.find() ? Double.parseDouble(matcher.group(1)) : Double.NaN;
    }

    /** Polls the endpoint until {@code sample} reads {@code expected}; returns the scrape that did. */
    static String awaitSample(int metricsPort, String sample, double expected) {
        var last = new AtomicReference<String>("");
        boolean seen = Ferry.await(DEADLINE, () -> {
            last.set(scrape(metricsPort));
            return value(last.get(), sample) == expected;
        });
        assertThat(seen).as("%s reaches %s within %s; last scrape:%n%s", sample, expected, DEADLINE, last.get())
                .isTrue();
        return last.get();
    }

    private static List<String> withMetrics(int metricsPort, String... options) {
        var all = new ArrayList<String>(List.of("--metrics", "127.0.0.1:" + metricsPort));
        all.addAll(List.of(options));
        return all;
    }

    /**
     * <ol>
     * <li>A server with metrics, a 2 s idle timeout and a 4096-byte limit.</li>
     * <li>1: a complete upload from {@code nc -N}; 2: a complete upload from a raw socket, seen in flight
     * (gauge 1) before it ends; 3: a raw socket that resets; 4: 10,000 bytes, too large; 5: a raw socket
     * that goes silent (idle timeout). Each log line is awaited before the next connects.</li>
     * <li>The scrape counts each outcome once, the bytes the log lines name, five observations in each
     * histogram, nothing in flight, the version {@code --version} prints and some free space.</li>
     * <li>{@code promtool check metrics} accepts the scrape.</li>
     * </ol>
     */
    @Test
    void uploadsAreCountedByOutcomeAsTheLogRecordsThem() throws Exception {
        assumeTrue(Ferry.has("nc"), "nc is not installed (CI installs it)");
        int metricsPort = Ports.unused();
        Path dir = tmp.resolve("files");
        try (var server = Ferry.Server.start(List.of(), withMetrics(metricsPort, "--idle-timeout-ms", "2000",
                "--max-bytes", "4096"), dir, Map.of())) {
            assertThat(server.stdout()).contains("; metrics on 127.0.0.1 port " + metricsPort + "\n");
            Path file = Files.write(tmp.resolve("upload"), Ferry.randomBytes(3000, 1));
            var nc = Ferry.exec(List.of("nc", "-N", "127.0.0.1", Integer.toString(server.port)), Map.of(), file,
                    DEADLINE);
            assertThat(nc.exitCode()).as("nc: %s", nc.stderr()).isZero();
            var records = new ArrayList<Ferry.Server.Record>();
            records.add(server.awaitRecord(1));
            // Scraped once before the next upload, whose 2 s of idleness the in-flight check must not outlast.
            awaitSample(metricsPort, "ferry_uploads_total{outcome=\"complete\"}", 1);

            try (var socket = FaultPeer.connect(server.port)) {
                socket.getOutputStream().write(Ferry.randomBytes(700, 2));
                awaitSample(metricsPort, "ferry_uploads_in_flight", 1);
                FaultPeer.finish(socket);
            }
            records.add(server.awaitRecord(2));

            try (var socket = FaultPeer.connect(server.port)) {
                socket.getOutputStream().write(Ferry.randomBytes(10, 3));
                socket.setSoLinger(true, 0); // close sends a reset
            }
            records.add(server.awaitRecord(3));

            try (var socket = FaultPeer.connect(server.port)) {
                socket.getOutputStream().write(Ferry.randomBytes(10_000, 4));
                socket.shutdownOutput();
                socket.getInputStream().read(); // the server's reset, or end of file
            } catch (IOException e) {
                // Reset by the server: the upload was too large.
            }
            records.add(server.awaitRecord(4));

            try (var socket = FaultPeer.connect(server.port)) {
                socket.getOutputStream().write(Ferry.randomBytes(5, 5));
                records.add(server.awaitRecord(5));
            }

            assertThat(records).extracting(Ferry.Server.Record::outcome)
                    .containsExactly("complete", "complete", "reset", "too-large", "idle-timeout");
            String scrape = awaitSample(metricsPort, "ferry_upload_duration_seconds_count", 5);
            assertThat(value(scrape, "ferry_uploads_total{outcome=\"complete\"}")).isEqualTo(2);
            assertThat(value(scrape, "ferry_uploads_total{outcome=\"reset\"}")).isEqualTo(1);
            assertThat(value(scrape, "ferry_uploads_total{outcome=\"too-large\"}")).isEqualTo(1);
            assertThat(value(scrape, "ferry_uploads_total{outcome=\"idle-timeout\"}")).isEqualTo(1);
            for (String other : List.of("write-failed", "too-long", "shutdown", "internal-error")) {
                assertThat(value(scrape, "ferry_uploads_total{outcome=\"" + other + "\"}")).as(other).isZero();
            }
            long bytes = records.stream().mapToLong(Ferry.Server.Record::bytes).sum();
            assertThat(value(scrape, "ferry_received_bytes_total")).isEqualTo(bytes);
            assertThat(value(scrape, "ferry_upload_size_bytes_sum")).isEqualTo(bytes);
            assertThat(value(scrape, "ferry_upload_size_bytes_count")).isEqualTo(5);
            long upTo1KiB = records.stream().filter(r -> r.bytes() <= 1024).count();
            assertThat(value(scrape, "ferry_upload_size_bytes_bucket{le=\"1024.0\"}")).isEqualTo(upTo1KiB);
            assertThat(value(scrape, "ferry_upload_duration_seconds_bucket{le=\"+Inf\"}")).isEqualTo(5);
            assertThat(value(scrape, "ferry_upload_duration_seconds_sum")).as("the idle upload lasted 2 s")
                    .isGreaterThanOrEqualTo(2.0);
            assertThat(value(scrape, "ferry_uploads_in_flight")).isZero();
            assertThat(value(scrape, "ferry_connections_refused_total{by=\"rule\"}")).isZero();
            assertThat(value(scrape, "ferry_accept_backoffs_total")).isZero();
            double free = value(scrape, "ferry_directory_free_bytes");
            assertThat(free).isPositive().isLessThanOrEqualTo(Files.getFileStore(dir).getTotalSpace());
            var version = Ferry.run("server", List.of("--version"), Map.of(), DEADLINE);
            var number = Pattern.compile("^ferry-server \\(ferry\\) (\\S+),").matcher(version.stdout());
            assertThat(number.find()).as("--version: %s", version.stdout()).isTrue();
            assertThat(value(scrape, "ferry_build_info{version=\"" + number.group(1) + "\"}")).isEqualTo(1);

            Ferry.stop(server);
            assumeTrue(Ferry.has("promtool"), "promtool (Debian: prometheus) is not installed (CI installs it)");
            Path scraped = Files.writeString(tmp.resolve("scrape.txt"), scrape);
            var check = Ferry.exec(List.of("promtool", "check", "metrics"), Map.of(), scraped, DEADLINE);
            assertThat(check.exitCode()).as("promtool check metrics: %s%s", check.stdout(), check.stderr()).isZero();
        }
    }

    /**
     * {@code --metrics PORT} alone serves on every interface, IPv4 and IPv6; each format a Prometheus
     * server may ask for (its Accept header): the text format, OpenMetrics, and protobuf (asked for
     * first when native histograms are on) gets a 200 in that format.
     */
    @Test
    void aPortAloneServesEveryInterfaceInEveryFormatPrometheusAsksFor() throws Exception {
        int metricsPort = Ports.unused();
        try (var server = Ferry.Server.start(List.of(), List.of("--metrics", Integer.toString(metricsPort)),
                tmp.resolve("formats"), Map.of())) {
            assertThat(server.stdout()).contains("; metrics on port " + metricsPort + " (all interfaces)\n");
            if (Files.exists(Path.of("/proc/net/tcp6"))) {
                assertThat(get("http://[::1]:" + metricsPort + "/metrics")).contains("ferry_uploads_total");
            }
            for (String type : List.of("text/plain;version=0.0.4", "application/openmetrics-text;version=1.0.0",
                    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited")) {
                var response = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + metricsPort
                        + "/metrics")).header("Accept", type).timeout(DEADLINE).build(),
                        HttpResponse.BodyHandlers.ofByteArray());
                assertThat(response.statusCode()).as("status for %s", type).isEqualTo(200);
                assertThat(response.headers().firstValue("Content-Type").orElse(""))
                        .startsWith(type.substring(0, type.indexOf(';')));
                assertThat(response.body()).as("body for %s", type).isNotEmpty();
            }
            Ferry.stop(server);
        }
    }

    /**
     * <ol>
     * <li>A server that denies 127.0.0.2 and keeps more free space than its file system has.</li>
     * <li>A connection from 127.0.0.2 is refused by rule; one from 127.0.0.1 for want of free space.</li>
     * <li>The scrape counts one of each, and no upload.</li>
     * </ol>
     */
    @Test
    void refusalsAreCountedByRuleAndByFreeSpace() throws Exception {
        int metricsPort = Ports.unused();
        Path dir = Files.createDirectories(tmp.resolve("refusing"));
        long more = Files.getFileStore(dir).getTotalSpace() + (1L << 30);
        try (var server = Ferry.Server.start(List.of(), withMetrics(metricsPort, "--deny", "127.0.0.2",
                "--min-free", Long.toString(more)), dir, Map.of())) {
            try (var socket = new Socket()) {
                socket.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.2"), 0));
                socket.connect(new InetSocketAddress("127.0.0.1", server.port));
            }
            awaitSample(metricsPort, "ferry_connections_refused_total{by=\"rule\"}", 1);
            FaultPeer.knock(server.port);
            String scrape = awaitSample(metricsPort, "ferry_connections_refused_total{by=\"free-space\"}", 1);
            assertThat(value(scrape, "ferry_connections_refused_total{by=\"rule\"}")).isEqualTo(1);
            assertThat(value(scrape, "ferry_uploads_total{outcome=\"complete\"}")).isZero();
            assertThat(value(scrape, "ferry_uploads_in_flight")).isZero();
            assertThat(dir.resolve("1.file")).as("refused connections get no number").doesNotExist();
            Ferry.stop(server);
        }
    }

    /**
     * <ol>
     * <li>A server with metrics. Eight raw sockets each send half a request line to the endpoint and hold;
     * two more connect and send nothing.</li>
     * <li>The kernel's table shows every half line read by the server: each is held by a request of its
     * own, and none waits behind another.</li>
     * <li>A scrape from a real HTTP client answers within 3 s, and an upload is confirmed and logged.</li>
     * <li>Every slow socket is then closed by the server (end of stream or reset), no sooner than 4 s after it
     * connected (the bound is 5 s, checked every second) and after the upload's confirmation.</li>
     * </ol>
     */
    @Test
    void slowClientsNeitherHoldScrapesNorUploadsAndAreClosedAfterTheBound() throws Exception {
        int metricsPort = Ports.unused();
        try (var server = Ferry.Server.start(List.of(), withMetrics(metricsPort), tmp.resolve("slow-scrapers"),
                Map.of())) {
            var slow = new ArrayList<Socket>();
            var ends = new ArrayList<java.util.concurrent.CompletableFuture<Long>>();
            try {
                long connected = System.nanoTime();
                for (int i = 0; i < 10; i++) {
                    var socket = new Socket();
                    socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), metricsPort), 5_000);
                    socket.setSoTimeout(Math.toIntExact(DEADLINE.toMillis()));
                    if (i < 8) {
                        socket.getOutputStream().write("GET /metr".getBytes(StandardCharsets.US_ASCII));
                    }
                    slow.add(socket);
                    var end = new java.util.concurrent.CompletableFuture<Long>();
                    ends.add(end);
                    Thread.ofVirtual().name("slow-scraper-" + i).start(() -> {
                        try {
                            while (socket.getInputStream().read() >= 0) {
                                // Nothing is expected before the close.
                            }
                            end.complete(System.nanoTime());
                        } catch (java.net.SocketTimeoutException e) {
                            end.completeExceptionally(e);
                        } catch (IOException e) {
                            end.complete(System.nanoTime()); // reset by the server: closed too
                        }
                    });
                }
                var queues = new AtomicReference<List<Integer>>(List.of());
                assertThat(Ferry.await(DEADLINE, () -> {
                    var now = TcpTable.receiveQueues(metricsPort);
                    if (!now.isEmpty()) {
                        queues.set(now); // the last view before the bound closes them, for the message
                    }
                    return now.size() >= 10 && now.stream().allMatch(q -> q == 0);
                })).as("every half request is read at once; unread bytes per connection: %s", queues.get()).isTrue();

                long asked = System.nanoTime();
                var response = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + metricsPort
                        + "/metrics")).timeout(DEADLINE).build(), HttpResponse.BodyHandlers.ofString());
                Duration scrape = Duration.ofNanos(System.nanoTime() - asked);
                assertThat(response.statusCode()).isEqualTo(200);
                assertThat(response.body()).contains("ferry_uploads_total");
                assertThat(scrape).as("a scrape beside slow clients").isLessThan(Duration.ofSeconds(3));

                FaultPeer.upload(server.port, Ferry.randomBytes(100_000, 1));
                long confirmed = System.nanoTime();
                assertThat(server.awaitLogLine(1, DEADLINE)).contains(" outcome=complete ");

                for (int i = 0; i < ends.size(); i++) {
                    long end = ends.get(i).get(DEADLINE.toSeconds(), TimeUnit.SECONDS);
                    assertThat(Duration.ofNanos(end - connected)).as("slow socket %d is closed after the bound", i)
                            .isGreaterThanOrEqualTo(Duration.ofSeconds(4));
                    assertThat(end).as("slow socket %d is still open when the upload is confirmed", i)
                            .isGreaterThan(confirmed);
                }
            } finally {
                for (Socket socket : slow) {
                    socket.close();
                }
            }
            Ferry.stop(server);
        }
    }

    /**
     * <ol>
     * <li>./server with metrics runs with 128 file descriptors and no connection limit of its own.</li>
     * <li>300 connections arrive: accepting fails for want of descriptors, and the accept loop backs off.</li>
     * <li>Once they are closed (the scrape needs a descriptor too), the back-offs are counted, and the
     * endpoint has outlived the shortage.</li>
     * </ol>
     */
    @Test
    void acceptBackOffsAreCounted() throws Exception {
        assumeTrue(Ferry.has("prlimit"), "prlimit (util-linux) is not installed");
        int metricsPort = Ports.unused();
        try (var server = Ferry.Server.start(List.of("prlimit", "--nofile=128:128"), withMetrics(metricsPort),
                tmp.resolve("short"), Map.of("FERRY_MAX_CONNECTIONS", "1000", "FERRY_IDLE_TIMEOUT_MS", "60000"))) {
            var sockets = new ArrayList<Socket>();
            try {
                // One at a time, so that each upload has its file before the next arrives: a burst could give
                // every last descriptor to sockets whose uploads then wait for their files, with nothing left
                // to free one (nor to answer a scrape) until they end.
                for (int i = 0; i < 300 && !server.stdout().contains("Too many open files"); i++) {
                    sockets.add(FaultPeer.connect(server.port));
                    Thread.sleep(5);
                }
                assertThat(Ferry.await(DEADLINE, () -> server.stdout().contains("Too many open files")))
                        .as("the server runs out of descriptors").isTrue();
                // A few more while an upload waits for its file: the accept loop meets the shortage and
                // backs off (they wait in the kernel's queue). Without them it may never look again before
                // the shortage ends (seen in CI: no back-off counted).
                for (int i = 0; i < 5; i++) {
                    sockets.add(FaultPeer.connect(server.port));
                    Thread.sleep(20);
                }
            } finally {
                for (Socket socket : sockets) {
                    socket.close();
                }
            }
            var last = new AtomicReference<String>("");
            assertThat(Ferry.await(DEADLINE, () -> {
                last.set(scrape(metricsPort));
                return value(last.get(), "ferry_accept_backoffs_total") >= 1;
            })).as("back-offs counted; last scrape:%n%s", last.get()).isTrue();
            // A scrape's first use of a lazily loaded JDK resource during the shortage once broke the endpoint
            // for good, with a stack trace: the start's warm-up scrape loads it while descriptors are there.
            assertThat(server.stderr()).doesNotContain("Exception").doesNotContain("\tat ");
            Ferry.stop(server);
        }
    }

    /**
     * <ol>
     * <li>A server with metrics receives one complete upload.</li>
     * <li>A real Prometheus server scrapes it every second (its own configuration and storage in a
     * temporary folder, its web port on loopback).</li>
     * <li>Its query API returns {@code ferry_uploads_total{outcome="complete"}} 1; after a second
     * upload, 2.</li>
     * </ol>
     */
    @Test
    void aRealPrometheusScrapesTheCounts() throws Exception {
        assumeTrue(Ferry.has("prometheus"), "prometheus is not installed (CI installs it: bin/install-test-tools)");
        int metricsPort = Ports.unused();
        try (var server = Ferry.Server.start(List.of(), withMetrics(metricsPort), tmp.resolve("scraped"), Map.of())) {
            upload(server, 1);
            int webPort = Ports.unused();
            Path config = Files.writeString(tmp.resolve("prometheus.yml"), """
                    global:
                      scrape_interval: 1s
                      scrape_timeout: 1s
                    scrape_configs:
                      - job_name: ferry
                        static_configs:
                          - targets: ['127.0.0.1:%d']
                    """.formatted(metricsPort));
            Path logs = tmp.resolve("prometheus.log");
            Process prometheus = new ProcessBuilder("prometheus", "--config.file=" + config,
                    "--storage.tsdb.path=" + tmp.resolve("tsdb"), "--web.listen-address=127.0.0.1:" + webPort)
                    .directory(tmp.toFile()).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectErrorStream(true).redirectOutput(logs.toFile()).start();
            try {
                awaitQuery(webPort, prometheus, logs, "ferry_uploads_total{outcome=\"complete\"}", "1");
                upload(server, 2);
                awaitQuery(webPort, prometheus, logs, "ferry_uploads_total{outcome=\"complete\"}", "2");
                awaitQuery(webPort, prometheus, logs, "up{job=\"ferry\"}", "1");
            } finally {
                prometheus.destroy();
                if (!prometheus.waitFor(10, TimeUnit.SECONDS)) {
                    Ferry.kill(prometheus);
                }
            }
            Ferry.stop(server);
        }
    }

    private static void upload(Ferry.Server server, long number) throws IOException {
        FaultPeer.upload(server.port, Ferry.randomBytes(100, number));
        assertThat(server.awaitLogLine(number, DEADLINE)).contains(" outcome=complete ");
    }

    /** Polls Prometheus's query API until {@code query} has one series whose value is {@code expected}. */
    private static void awaitQuery(int webPort, Process prometheus, Path logs, String query, String expected) {
        String url = "http://127.0.0.1:" + webPort + "/api/v1/query?query="
                + URLEncoder.encode(query, StandardCharsets.UTF_8);
        // One series: "result":[{"metric":{...},"value":[<time>,"<value>"]}]
        var single = Pattern.compile("\"result\":\\[\\{\"metric\":\\{[^}]*\\},\"value\":\\[[0-9.]+,\"([^\"]+)\"\\]\\}\\]");
        var last = new AtomicReference<String>("");
        boolean seen = Ferry.await(Duration.ofSeconds(60), Duration.ofMillis(250), () -> {
            last.set(get(url));
            var matcher = single.matcher(last.get());
            return !prometheus.isAlive() || matcher.find() && matcher.group(1).equals(expected);
        });
        assertThat(prometheus.isAlive()).as("prometheus runs; its log:%n%s", Ferry.readOrEmpty(logs)).isTrue();
        assertThat(seen).as("Prometheus answers %s = %s; last answer: %s; its log:%n%s", query, expected, last.get(),
                Ferry.readOrEmpty(logs)).isTrue();
    }

    /**
     * <ol>
     * <li>The launcher is built ({@code ./server --version}), so that only the server's JVM reads
     * JAVA_TOOL_OPTIONS, which asks it to log every class it loads to a file.</li>
     * <li>Without {@code --metrics}, a server receives an upload and stops: no class of io.prometheus,
     * nor ferry's metrics class, was loaded.</li>
     * <li>With {@code --metrics}, the same run loads both.</li>
     * </ol>
     */
    @Test
    void theMetricsLibraryIsLoadedOnlyWhenMetricsAreOn() throws Exception {
        assertThat(Ferry.run("server", List.of("--version"), Map.of(), Duration.ofSeconds(120)).exitCode()).isZero();
        List<String> off = loadedClasses(List.of(), "off");
        assertThat(off).as("the log lists the classes loaded").anyMatch(line -> line.contains("ferry.server.ServerMain "));
        assertThat(off).as("classes loaded without --metrics")
                .noneMatch(line -> line.contains("io.prometheus") || line.contains("ferry.server.report.PrometheusMetrics"));
        List<String> on = loadedClasses(withMetrics(Ports.unused()), "on");
        assertThat(on).anyMatch(line -> line.contains("ferry.server.report.PrometheusMetrics "));
        assertThat(on).anyMatch(line -> line.contains("io.prometheus.metrics.exporter.httpserver.HTTPServer "));
    }

    /** The classes a server run with {@code options} loads while it receives one upload, as -Xlog:class+load lists them. */
    private List<String> loadedClasses(List<String> options, String name) throws Exception {
        Path log = tmp.resolve("classes-" + name + ".log");
        var env = Map.of("JAVA_TOOL_OPTIONS", "-Xlog:class+load:file=" + log);
        try (var server = Ferry.Server.start(List.of(), options, tmp.resolve("classes-" + name), env)) {
            upload(server, 1);
            Ferry.stop(server);
        }
        return Files.readAllLines(log);
    }

    static Stream<Arguments> badValues() {
        String portOrAddress = ": must be PORT or ADDR:PORT, the port 1-65535 (e.g. 9100, 127.0.0.1:9100, [::1]:9100)";
        return Stream.of(
                Arguments.of("--metrics", "0", "ERROR: invalid --metrics \"0\"" + portOrAddress),
                Arguments.of("--metrics", "70000", "ERROR: invalid --metrics \"70000\"" + portOrAddress),
                Arguments.of("--metrics", "abc", "ERROR: invalid --metrics \"abc\"" + portOrAddress),
                Arguments.of("--metrics", "127.0.0.1:", "ERROR: invalid --metrics \"127.0.0.1:\"" + portOrAddress),
                Arguments.of("--metrics", "::1:9100",
                        "ERROR: invalid --metrics \"::1:9100\": write an IPv6 address in brackets, e.g. [::1]:9100"),
                Arguments.of("--metrics", "bad host!:9100",
                        "ERROR: invalid --metrics \"bad host!:9100\": must be an address of this host"),
                Arguments.of("FERRY_METRICS", "9100x", "ERROR: invalid FERRY_METRICS \"9100x\"" + portOrAddress));
    }

    @ParameterizedTest(name = "{0}={1}")
    @MethodSource("badValues")
    void aBadMetricsValueIsOneErrorLineAndExitCode2(String option, String text, String message) throws Exception {
        Path dir = tmp.resolve("never-created");
        var args = new ArrayList<String>();
        var env = Map.<String, String>of();
        if (option.startsWith("--")) {
            args.addAll(List.of(option, text));
        } else {
            env = Map.of(option, text);
        }
        args.addAll(List.of(Integer.toString(Ports.unused()), dir.toString()));
        var result = Ferry.run("server", args, env, DEADLINE);
        assertThat(result.exitCode()).as("exit code; stderr: %s", result.stderr()).isEqualTo(2);
        assertThat(result.stderr()).isEqualTo(message + "\n");
        assertThat(result.stdout()).isEmpty();
        assertThat(dir).as("options are checked before anything is touched").doesNotExist();
    }

    /**
     * <ol>
     * <li>Another socket holds the metrics port.</li>
     * <li>{@code ./server --metrics} exits 1 with one ERROR line naming it, and logs nothing.</li>
     * <li>Nothing is left listening on the upload port, nor holding the directory: a new server starts in it
     * at once.</li>
     * </ol>
     */
    @Test
    void aMetricsPortInUseIsOneErrorLineAndExitCode1() throws Exception {
        int port = Ports.unused();
        Path dir = tmp.resolve("busy-metrics");
        try (var taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress("127.0.0.1", 0));
            int metricsPort = taken.getLocalPort();
            var result = Ferry.run("server", List.of("--metrics", "127.0.0.1:" + metricsPort, Integer.toString(port),
                    dir.toString()), Map.of(), DEADLINE);
            Ferry.assertFailed(result, Pattern.quote("ERROR: cannot serve metrics on 127.0.0.1 port " + metricsPort
                    + ": address already in use"));
        }
        assertThat(Ferry.listening(port)).as("the upload port is closed").isFalse();
        try (var server = Ferry.Server.start(dir)) {
            assertThat(server.stderr()).isEmpty();
            Ferry.stop(server);
        }
    }
}
