package ferry.server;

import ferry.common.Arguments;
import ferry.common.ExitCode;
import ferry.common.UserError;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * {@code ./server <PORT> <FILE-DIR>}: saves connection N's bytes to
 * {@code <FILE-DIR>/N.file}.
 *
 * <p>Stops, exiting 0, when the JVM is asked to shut down (SIGTERM, SIGINT)
 * or, when started with {@code -Dferry.parentPipe=N} as {@code ./server}
 * does, when the pipe on descriptor N reaches end of file ({@link ParentPipe}):
 * the launcher closes that pipe on SIGTERM, SIGQUIT, SIGINT or SIGHUP, and the
 * kernel closes it if the launcher dies. Standard input is left alone.
 */
public final class ServerMain {
    private final Map<String, String> env;
    private final PrintStream out;
    private final PrintStream err;

    /** A server that reads its limits from {@code env} and logs to {@code out}, errors to {@code err}. */
    public ServerMain(Map<String, String> env, PrintStream out, PrintStream err) {
        this.env = env;
        this.out = out;
        this.err = err;
    }

    public static void main(String[] args) {
        var out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        var err = new PrintStream(new FileOutputStream(FileDescriptor.err), true, StandardCharsets.UTF_8);
        var main = new ServerMain(System.getenv(), out, err);
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
        var log = new Log(out);
        try {
            config = ServerArgs.parse(args, env);
            // Bind first: a server that cannot listen leaves no trace (no directory, no lock).
            var channel = FerryServer.bind(config.port());
            try {
                directory = UploadDirectory.open(config.directory());
            } catch (UserError e) {
                FerryServer.closeQuietly(channel);
                throw e;
            }
            server = FerryServer.start(channel, config, new LocalCounter(), FileSink.in(directory.path()), log);
        } catch (UserError e) {
            err.println(e.line());
            return e.exitCode();
        } catch (RuntimeException e) {
            err.println("ERROR: the server could not start: " + e);
            return ExitCode.FAILURE;
        }
        if (directory.moved() > 0) {
            log.line("moved " + directory.moved() + " earlier upload" + (directory.moved() == 1 ? "" : "s")
                    + " (N.file) aside to " + directory.earlier() + "; numbering starts at 1");
        }
        log.line("listening on port " + server.port() + " (all interfaces), saving to "
                + config.directory() + ", idle timeout " + Arguments.seconds(config.idleTimeout())
                + ", up to " + config.maxConnections() + " uploads at once"
                + (config.limitsBytes() ? ", at most " + config.maxBytes() + " bytes each" : "")
                + (config.limitsDuration() ? ", at most " + Arguments.seconds(config.maxDuration()) + " each" : ""));
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            // A signal straight to the JVM (SIGTERM, SIGINT) is a request to stop, not a failure.
            if (server.stop()) {
                log.line("stopped");
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
        directory.close();
        if (server.failure() != null) {
            err.println("ERROR: the server stopped: " + server.failure());
            return ExitCode.FAILURE;
        }
        log.line("stopped");
        return ExitCode.OK;
    }
}
