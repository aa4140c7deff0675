package ferry.server;

import ferry.common.Arguments;
import ferry.common.ExitCode;
import ferry.common.UserError;
import ferry.common.Version;
import ferry.server.net.FerryServer;
import ferry.server.net.InheritedSocket;
import ferry.server.numbering.ConnectionCounter;
import ferry.server.numbering.LocalCounter;
import ferry.server.numbering.PostgresCounter;
import ferry.server.report.HookRunner;
import ferry.server.report.Journal;
import ferry.server.report.Log;
import ferry.server.report.PrometheusMetrics;
import ferry.server.report.ServerEvents;
import ferry.server.store.S3Storage;
import ferry.server.store.SinkFactory;
import ferry.server.store.UploadDirectory;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code ./server <PORT> <FILE-DIR>}: saves connection N's bytes to
 * {@code <FILE-DIR>/N.file}.
 *
 * <p>Stops, exiting 0, when the JVM is asked to shut down (SIGTERM, SIGINT)
 * or, when started with {@code -Dferry.parentPipe=N} as {@code ./server}
 * does, when the pipe on descriptor N reaches end of file ({@link ParentPipe}):
 * the launcher closes that pipe on SIGTERM, SIGQUIT, SIGINT or SIGHUP, and the
 * kernel closes it if the launcher dies. Standard input is left alone, unless
 * {@code -Dferry.inheritedSocket=true} says it is the listening socket from
 * systemd's socket activation ({@link InheritedSocket}).
 */
public final class ServerMain {
    private final Map<String, String> env;
    private final PrintStream out;
    private final PrintStream err;
    private final boolean inheritedSocket;

    /** A server that reads its limits from {@code env} and logs to {@code out}, errors to {@code err}. */
    public ServerMain(Map<String, String> env, PrintStream out, PrintStream err) {
        this(env, out, err, false);
    }

    /**
     * A server that, when {@code inheritedSocket} is true, serves on the
     * listening socket that systemd's socket activation passed as standard
     * input ({@link InheritedSocket}) instead of binding one.
     */
    ServerMain(Map<String, String> env, PrintStream out, PrintStream err, boolean inheritedSocket) {
        this.env = env;
        this.out = out;
        this.err = err;
        this.inheritedSocket = inheritedSocket;
    }

    public static void main(String[] args) {
        var out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        var err = new PrintStream(new FileOutputStream(FileDescriptor.err), true, StandardCharsets.UTF_8);
        var main = new ServerMain(System.getenv(), out, err, Boolean.getBoolean(InheritedSocket.PROPERTY));
        InputStream parentPipe;
        try {
            parentPipe = ParentPipe.open(System.getProperty("ferry.parentPipe"));
        } catch (IOException | RuntimeException e) {
            err.println("ERROR: the server could not open the pipe from its launcher: " + e.getMessage());
            System.exit(ExitCode.FAILURE.code());
            return;
        }
        System.exit(main.run(args, parentPipe).code());
    }

    /**
     * Runs the server until it is stopped.
     *
     * @param parentPipe a stream whose end of file stops the server, or null
     */
    public ExitCode run(String[] args, InputStream parentPipe) {
        FerryServer server;
        ServerConfig config;
        UploadDirectory directory;
        SinkFactory sinks;
        ConnectionCounter counter;
        Log log;
        try {
            var parsed = ServerArgs.OPTIONS.parse(args, env, ServerArgs.USAGE);
            if (parsed.help()) {
                out.println(help());
                return ExitCode.OK;
            }
            if (parsed.version()) {
                out.println(Version.line("ferry-server"));
                return ExitCode.OK;
            }
            config = ServerArgs.config(parsed.positionals(), parsed.settings());
            long maxHeap = Runtime.getRuntime().maxMemory();
            config = config.fitDefaultBudgets(maxHeap, parsed.settings().get(ServerConfig.BUFFER_MEMORY_VARIABLE) != null,
                    parsed.settings().get(ServerArgs.S3_MEMORY) != null);
            config.checkBudgets(maxHeap);
            log = new Log(out, config.service().logFormat());
            // Bind first: a server that cannot listen leaves no trace (no directory, no lock).
            var channel = inheritedSocket ? InheritedSocket.take(config.port(), config.service().listen())
                    : FerryServer.bind(config.port(), config.service().listen());
            try {
                if (config.service().s3() == null) {
                    directory = UploadDirectory.open(config.directory());
                    sinks = directory.sinks(config.service().fsync());
                } else {
                    directory = null;
                    sinks = objectStorage(config, env);
                }
            } catch (UserError | RuntimeException | LinkageError e) {
                FerryServer.closeQuietly(channel);
                throw e;
            }
            // Whatever fails from here leaves nothing behind: no port, no lock, no watcher's thread or port.
            var watchers = new ArrayList<ServerEvents>();
            counter = null;
            try {
                watchers(config, log, watchers);
                counter = counter(config, log, sinks.numberedBefore());
                server = FerryServer.start(channel, config.net(), counter, sinks, log, watchers);
            } catch (UserError | RuntimeException | LinkageError e) {
                FerryServer.closeQuietly(channel);
                if (counter != null) {
                    counter.close();
                }
                new Journal(log, watchers).close(System.nanoTime());
                sinks.close();
                if (directory != null) {
                    directory.close();
                }
                throw e;
            }
        } catch (UserError e) {
            err.println(e.line());
            return e.exitCode();
        } catch (RuntimeException | LinkageError e) {
            // LinkageError: a runtime without a module an option needs (a jlink'ed one, say).
            err.println("ERROR: the server could not start: " + e);
            return ExitCode.FAILURE;
        }
        if (directory != null && directory.moved() > 0) {
            log.line("moved " + directory.moved() + " earlier upload" + (directory.moved() == 1 ? "" : "s")
                    + " (N.file) aside to " + directory.earlier()
                    + (config.service().counter() == null ? "; numbering starts at 1" : ""));
        }
        if (sinks.startNote() != null) {
            log.line(sinks.startNote());
        }
        if (sinks.numberedBefore() > 0 && config.service().counter() == null) {
            log.line("numbering continues after " + sinks.numberedBefore() + ", the highest N.file already in "
                    + config.destination() + " (objects are never overwritten)");
        }
        log.notice("listening", "listening on port " + server.port() + " ("
                + (inheritedSocket ? "socket from systemd"
                        : config.service().listen() == null ? "all interfaces" : config.service().listen().getHostAddress())
                + "), saving to "
                + config.destination() + ", idle timeout " + Arguments.seconds(config.idleTimeout())
                + ", up to " + config.maxConnections() + " uploads at once"
                + (config.limitsBytes() ? ", at most " + config.maxBytes() + " bytes each" : "")
                + (config.limitsDuration() ? ", at most " + Arguments.seconds(config.maxDuration()) + " each" : "")
                + options(config.service()));
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            // A signal straight to the JVM (SIGTERM, SIGINT) is a request to stop, not a failure.
            if (server.stop()) {
                log.notice("stopped", "stopped");
                Runtime.getRuntime().halt(ExitCode.OK.code());
            }
        }, "ferry-shutdown"));
        if (parentPipe != null) {
            Thread.ofPlatform().name("ferry-parent-pipe").daemon().start(() -> {
                ParentPipe.awaitEnd(parentPipe);
                server.stop();
            });
        }
        server.awaitStopped();
        counter.close();
        sinks.close();
        if (directory != null) {
            directory.close();
        }
        if (server.failure() != null) {
            err.println("ERROR: the server stopped: " + server.failure());
            return ExitCode.FAILURE;
        }
        log.notice("stopped", "stopped");
        return ExitCode.OK;
    }

    /** What {@code --help} prints. */
    static String help() {
        return ServerArgs.USAGE.replace(" <PORT>", " [OPTIONS] <PORT>") + "\n\n"
                + "Receives raw-TCP uploads: connection N's bytes are saved to <FILE-DIR>/N.file, and an upload\n"
                + "that does not end with the sender's clean half-close reads ERROR. Every option is also an\n"
                + "environment variable (a flag wins); options come before <PORT>.\n\n"
                + "Options:\n" + ServerArgs.OPTIONS.help() + "\n\n"
                + "Exit codes: 0 stopped by SIGTERM, SIGQUIT, SIGINT or SIGHUP; 1 cannot listen or run;\n"
                + "2 wrong arguments or option values.";
    }

    /** The switched-on options, for the start line. */
    private static String options(ServiceOptions service) {
        var parts = new ArrayList<String>();
        if (service.access().restricts()) {
            parts.add("access rules on");
        }
        if (service.access().maxPerPeer() > 0) {
            parts.add("at most " + service.access().maxPerPeer() + " connections per address");
        }
        if (service.minFree() != null) {
            parts.add("keeping " + service.minFree().text() + " free");
        }
        if (service.checksum()) {
            parts.add("sha256 checksums");
        }
        if (service.fsync()) {
            parts.add("fsync before confirming");
        }
        if (service.hook() != null) {
            parts.add("hook " + Arguments.quote(service.hook().command()));
        }
        if (service.tls() != null) {
            parts.add(service.tls().toString());
        }
        if (service.metrics() != null) {
            var metrics = service.metrics();
            parts.add("metrics on " + (metrics.getAddress().isAnyLocalAddress() ? "port " + metrics.getPort()
                    + " (all interfaces)" : metrics.getAddress().getHostAddress() + " port " + metrics.getPort()));
        }
        if (service.counter() != null) {
            parts.add("numbers from " + service.counter().shown());
        }
        if (service.s3() != null) {
            parts.add("parts of " + (service.s3().partSize() >> 20) + " MiB, " + (service.s3().memory() >> 20)
                    + " MiB of part buffers");
        }
        return parts.isEmpty() ? "" : "; " + String.join(", ", parts);
    }

    /**
     * The connection counter the options ask for: the embedded local one, or
     * the shared one in PostgreSQL, created only then, so that nothing of JDBC
     * (nor the driver) is loaded otherwise. A database that cannot be reached
     * yet does not stop the start: new connections wait for their numbers
     * (the accept thread logs and retries) until it can.
     */
    private static ConnectionCounter counter(ServerConfig config, Log log, long numberedBefore) {
        if (config.service().counter() == null) {
            return new LocalCounter(numberedBefore);
        }
        // The only reference to PostgresCounter: it, java.sql and the driver are loaded here or never.
        return PostgresCounter.start(config.service().counter(), log);
    }

    /**
     * The object storage FILE-DIR names ({@code s3://BUCKET/PREFIX}), checked
     * to answer. Without a shared counter, the objects an earlier run left are
     * listed, so that numbering continues after them.
     */
    private static SinkFactory objectStorage(ServerConfig config, Map<String, String> env) throws UserError {
        // The only reference to S3Storage: it and the AWS SDK are loaded here or never.
        return S3Storage.open(config.service().s3(), env, config.service().counter() == null);
    }

    /**
     * Adds to {@code watchers} whoever watches the server besides its log, as
     * the options ask: each is created only when switched on, so that nothing
     * of it (the metrics library, say) is loaded otherwise. Those added before
     * a failure are the caller's to close.
     */
    private static void watchers(ServerConfig config, Log log, List<ServerEvents> watchers) throws UserError {
        if (config.service().metrics() != null) {
            // The only reference to the metrics: PrometheusMetrics (and so the library) is loaded here or never.
            // First, so that a metrics port that cannot be bound fails the start before any other is made.
            watchers.add(PrometheusMetrics.start(config.service().metrics(), config.directory()));
        }
        if (config.service().hook() != null) {
            watchers.add(new HookRunner(config.service().hook(), log));
        }
    }
}
