package ferry.server.report;

import ferry.common.Arguments;
import ferry.common.UserError;
import ferry.common.Version;
import io.prometheus.metrics.config.PrometheusProperties;
import io.prometheus.metrics.core.datapoints.CounterDataPoint;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Info;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.Collector;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.ClassicHistogramBuckets;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot.HistogramDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;

/**
 * {@code --metrics [ADDR:]PORT}: the server's counters, served for Prometheus
 * at {@code http://ADDR:PORT/metrics} by the Prometheus Java client's own
 * HTTP server (the JDK's {@code com.sun.net.httpserver}, a thread per request
 * of its own, with bounds on request time and connections: {@link #HTTP_LIMITS}).
 *
 * <p>Loaded only when the option is on: {@code ferry.server.ServerMain} is the one class
 * that names this one, in a branch taken only then, so that without the
 * option neither this class nor any of the library's is ever loaded
 * (MetricsIT proves it with {@code -Xlog:class+load}).
 *
 * <p>Each event only adds to striped adders ({@link LongAdder}: no lock), so
 * the accept thread and the uploads' workers never wait for it, not even
 * during a scrape: hence the two histograms of this class's own
 * ({@link Buckets}) instead of the library's, whose observations may wait for
 * a scrape in progress. The free space is read at scrape time, on the HTTP
 * server's thread.
 */
public final class PrometheusMetrics implements ServerEvents {
    /** Upload durations, in seconds: from a quick local file to an hour-long transfer; idle timeouts land at 10-30 s. */
    static final double[] DURATION_BUCKETS = {0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600};
    /** Upload sizes, in bytes: powers of 1024 and 16 from 1 KiB to 1 TiB. */
    static final double[] SIZE_BUCKETS = {1L << 10, 1L << 16, 1L << 20, 1L << 24, 1L << 27, 1L << 30, 1L << 34,
            1L << 37, 1L << 40};

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final CounterDataPoint[] uploads = new CounterDataPoint[Outcome.values().length];
    private final Counter receivedBytes;
    private final Counter tlsUploads;
    private final LongAdder inFlight = new LongAdder();
    private final CounterDataPoint[] refused = new CounterDataPoint[Refusal.values().length];
    private final Counter backoffs;
    private final Buckets duration;
    private final Buckets size;
    private final Path directory;
    /** FILE-DIR's file system, found at the first scrape that can; read by the HTTP server's threads only. */
    private volatile FileStore store;
    private HTTPServer http;

    /** The metrics of a server saving to {@code directory}, not yet served. */
    /**
     * The library's defaults, not its run-time configuration (a {@code prometheus.properties}
     * file, {@code -Dprometheus.config}, {@code PROMETHEUS_CONFIG}, {@code io.prometheus.*}
     * system properties), which could move the port --metrics names or change what is served.
     */
    private static final PrometheusProperties PROPERTIES = PrometheusProperties.builder().build();

    PrometheusMetrics(Path directory) {
        this.directory = directory;
        var uploadsTotal = Counter.builder(PROPERTIES).name("ferry_uploads_total")
                .help("Uploads ended, by outcome (as in the log: complete, idle-timeout, reset, ...)")
                .labelNames("outcome").withoutExemplars().register(registry);
        for (Outcome outcome : Outcome.values()) {
            // Every outcome from the start, at 0: a rate over a series that appears late misses its first step.
            uploads[outcome.ordinal()] = uploadsTotal.labelValues(outcome.label());
        }
        receivedBytes = Counter.builder(PROPERTIES).name("ferry_received_bytes_total")
                .help("Bytes received from senders, counted when each upload ends, whatever its outcome")
                .withoutExemplars().register(registry);
        GaugeWithCallback.builder(PROPERTIES).name("ferry_uploads_in_flight")
                .help("Uploads accepted and numbered that have not ended yet")
                .callback(callback -> callback.call(inFlight.sum())).register(registry);
        var refusedTotal = Counter.builder(PROPERTIES).name("ferry_connections_refused_total")
                .help("Connections reset before they got a number: by the access rules (by=rule), for want"
                        + " of free space (by=free-space), or at the per-address limit (by=per-peer)")
                .labelNames("by").withoutExemplars().register(registry);
        for (Refusal refusal : Refusal.values()) {
            refused[refusal.ordinal()] = refusedTotal.labelValues(refusal.label());
        }
        tlsUploads = Counter.builder(PROPERTIES).name("ferry_tls_uploads_total")
                .help("Uploads ended whose TLS handshake completed, by protocol (TLSv1.3, TLSv1.2)")
                .labelNames("protocol").withoutExemplars().register(registry);
        backoffs = Counter.builder(PROPERTIES).name("ferry_accept_backoffs_total")
                .help("Times the accept loop paused after a failure (out of file descriptors, a failing counter)")
                .withoutExemplars().register(registry);
        duration = new Buckets("ferry_upload_duration_seconds",
                "Time from accepting an upload's connection to its end, whatever its outcome", DURATION_BUCKETS);
        registry.register(duration);
        size = new Buckets("ferry_upload_size_bytes", "Bytes received per upload, whatever its outcome", SIZE_BUCKETS);
        registry.register(size);
        GaugeWithCallback.builder(PROPERTIES).name("ferry_directory_free_bytes")
                .help("Bytes free for ferry on FILE-DIR's file system, read at each scrape")
                .callback(callback -> {
                    long free = freeBytes();
                    if (free >= 0) {
                        callback.call(free);
                    }
                })
                .register(registry);
        Info.builder(PROPERTIES).name("ferry_build_info").help("ferry's version").labelNames("version")
                .register(registry).setLabelValues(Version.number());
    }

    /**
     * The metrics of a server saving to {@code directory}, served at
     * {@code address} (its wildcard address: every interface).
     *
     * @throws UserError (exit 1) when the address cannot be bound
     */
    public static PrometheusMetrics start(InetSocketAddress address, Path directory) throws UserError {
        var metrics = new PrometheusMetrics(directory);
        limitConnections();
        try {
            var builder = HTTPServer.builder(PROPERTIES).port(address.getPort()).registry(metrics.registry);
            if (!address.getAddress().isAnyLocalAddress()) {
                builder.inetAddress(address.getAddress());
            }
            metrics.http = builder.executorService(scrapers()).buildAndStart();
        } catch (IOException e) {
            throw UserError.failure("cannot serve metrics on " + (address.getAddress().isAnyLocalAddress()
                    ? "port " + address.getPort()
                    : address.getAddress().getHostAddress() + " port " + address.getPort()) + ": "
                    + Arguments.describe(e).toLowerCase());
        }
        metrics.warmUp(address);
        return metrics;
    }

    /** Connections the endpoint keeps open at once, and the most threads that answer them: 64. */
    static final int MAX_CONNECTIONS = 64;

    /**
     * Bounds on the endpoint's connections, so that slow or silent clients
     * cannot hold it: a request (line and headers) must arrive within 5 s of
     * its first byte, and a connection that sends nothing is closed after as
     * long (checked every second, not the JDK's 10 s); a response must be
     * read within 10 s; at most 64 connections are open at once (more are
     * closed as they arrive). The JDK's HTTP server reads these system
     * properties once, when its classes load, which is at this class's start
     * (nothing else in the server uses it); one the operator set with
     * {@code -D} is kept.
     */
    static final Map<String, String> HTTP_LIMITS = Map.of(
            // In seconds, though the JDK's documentation says milliseconds (MetricsIT measures it).
            "sun.net.httpserver.maxReqTime", "5",
            "sun.net.httpserver.maxRspTime", "10",
            "sun.net.httpserver.clockTick", "1000",
            "sun.net.httpserver.timerMillis", "1000",
            "jdk.httpserver.maxConnections", Integer.toString(MAX_CONNECTIONS));

    private static void limitConnections() {
        HTTP_LIMITS.forEach((name, value) -> {
            if (System.getProperty(name) == null) {
                System.setProperty(name, value);
            }
        });
    }

    /**
     * The threads that answer requests: one per connection in a request or a
     * response, up to the connection limit, so that a client that sends half
     * a request holds only its own thread (until {@link #HTTP_LIMITS} closes
     * it), never the scrapes beside it. Platform threads, not virtual ones:
     * the JDK's HTTP server reads a request inside {@code synchronized}
     * methods, where a blocked virtual thread pins its carrier before JDK 24,
     * and the carriers are the uploads' workers' too. Each ends after 30 s
     * without work, so a server that is not scraped keeps none. One that fails is logged as one line, never a stack trace.
     */
    private static ExecutorService scrapers() {
        var count = new AtomicInteger();
        ThreadFactory factory = task -> Thread.ofPlatform().name("ferry-metrics-" + count.incrementAndGet()).daemon()
                .uncaughtExceptionHandler((thread, e) -> System.out.println(java.time.Instant.now()
                        + " ferry: metrics: a scrape failed: " + e))
                .unstarted(task);
        // An idle thread is reused, a new one started only when none is idle. The connection limit keeps
        // the threads busy at once within it, but for a moment while a closed connection's thread ends:
        // a request then gets a thread of its own rather than being dropped.
        return new ThreadPoolExecutor(0, MAX_CONNECTIONS, 30, TimeUnit.SECONDS, new SynchronousQueue<>(), factory,
                (task, pool) -> factory.newThread(task).start());
    }

    /**
     * Answers one scrape at start, over loopback or the address given: the JDK's HTTP server loads
     * what a response needs (its Date header reads the time-zone database) only then, and a first
     * scrape during a descriptor shortage would fail to, leaving the endpoint broken for good.
     * A warm-up that fails is harmless: scrapes still work once descriptors are free.
     */
    private void warmUp(InetSocketAddress address) {
        var target = address.getAddress().isAnyLocalAddress()
                ? new InetSocketAddress(InetAddress.getLoopbackAddress(), port())
                : new InetSocketAddress(address.getAddress(), port());
        try (var socket = new Socket()) {
            socket.connect(target, 2_000);
            socket.setSoTimeout(2_000);
            socket.getOutputStream().write(("GET /metrics HTTP/1.1\r\nHost: ferry\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            socket.getInputStream().transferTo(OutputStream.nullOutputStream());
        } catch (IOException e) {
            // See above.
        }
    }

    /** The port the endpoint listens on, or -1 when not served. */
    int port() {
        return http == null ? -1 : http.getPort();
    }

    @Override
    public void uploadStarted(long number) {
        inFlight.increment();
    }

    @Override
    public void uploadEnded(UploadRecord record) {
        inFlight.decrement();
        uploads[record.outcome().ordinal()].inc();
        receivedBytes.inc(record.bytes());
        if (record.tls() != null) {
            tlsUploads.labelValues(record.tls()).inc();
        }
        duration.observe(record.duration().toNanos() / 1e9);
        size.observe(record.bytes());
    }

    @Override
    public void refused(Refusal refusal) {
        refused[refusal.ordinal()].inc();
    }

    @Override
    public void acceptBackedOff() {
        backoffs.inc();
    }

    /** Stops serving at once: the endpoint goes with the server. */
    @Override
    public void close(long deadlineNanos) {
        if (http != null) {
            http.close();
        }
    }

    /** Every metric in Prometheus's text format, as a scrape would read it. */
    String scrape() {
        var text = new ByteArrayOutputStream();
        try {
            PrometheusTextFormatWriter.create().write(text, registry.scrape());
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a ByteArrayOutputStream does not fail
        }
        return text.toString(StandardCharsets.UTF_8);
    }

    /** The free bytes on FILE-DIR's file system, or -1 when they cannot be read (or it is object storage). */
    private long freeBytes() {
        if (directory == null) {
            return -1;
        }
        try {
            FileStore found = store;
            if (found == null) {
                found = Files.getFileStore(directory);
                store = found;
            }
            return found.getUsableSpace();
        } catch (IOException | RuntimeException e) {
            return -1; // left out of this scrape rather than reported as 0
        }
    }

    @Override
    public String toString() {
        return "the metrics endpoint";
    }

    /**
     * A classic histogram (cumulative {@code le} buckets, a count and a sum)
     * whose observation is two adder increments. A scrape reads the adders
     * one after another, so while uploads end it may see an observation in
     * its bucket before its sum: a skew of at most the uploads ending during
     * that scrape, gone at the next.
     */
    static final class Buckets implements Collector {
        private final String name;
        private final String help;
        /** The upper bounds, ascending, and +Inf last. */
        private final double[] bounds;
        /** Observations per bucket, not cumulative: counts[i] holds those in (bounds[i-1], bounds[i]]. */
        private final LongAdder[] counts;
        private final DoubleAdder sum = new DoubleAdder();

        Buckets(String name, String help, double[] upperBounds) {
            this.name = name;
            this.help = help;
            this.bounds = Arrays.copyOf(upperBounds, upperBounds.length + 1);
            bounds[upperBounds.length] = Double.POSITIVE_INFINITY;
            this.counts = new LongAdder[bounds.length];
            Arrays.setAll(counts, i -> new LongAdder());
        }

        void observe(double value) {
            int i = Arrays.binarySearch(bounds, value);
            // Not found: the insertion point is the first bound above the value, the bucket it belongs to.
            counts[i >= 0 ? i : -i - 1].increment();
            sum.add(value);
        }

        @Override
        public MetricSnapshot collect() {
            long[] snapshot = new long[counts.length];
            for (int i = 0; i < counts.length; i++) {
                snapshot[i] = counts[i].sum();
            }
            return HistogramSnapshot.builder().name(name).help(help)
                    .dataPoint(HistogramDataPointSnapshot.builder()
                            .classicHistogramBuckets(ClassicHistogramBuckets.of(bounds, snapshot)).sum(sum.sum()).build())
                    .build();
        }

        @Override
        public String getPrometheusName() {
            return name;
        }
    }
}
