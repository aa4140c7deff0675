package ferry.client;

import ferry.common.ExitCode;
import ferry.common.UserError;
import ferry.common.Version;
import java.io.PrintStream;
import java.util.Map;

/**
 * {@code ./client [OPTIONS] <HOSTNAME-OR-IP> <PORT> <FILENAME>}: sends the
 * file's bytes over one TCP connection, half-closes, and exits 0 once the
 * server has closed its side too. Any failure is one {@code ERROR:} line on
 * standard error and a non-zero exit.
 *
 * <p>When standard error is a terminal, which the {@code ./client} launcher
 * tells with {@code -Dferry.stderrTerminal=true} (Java 21 cannot tell itself),
 * a progress line is drawn there ({@link Progress}), unless {@code --quiet}.
 */
public final class ClientMain {
    /** The system property through which the launcher says that standard error is a terminal. */
    static final String TERMINAL_PROPERTY = "ferry.stderrTerminal";
    private static final String SELECTOR_PROVIDER = "java.nio.channels.spi.SelectorProvider";

    private ClientMain() {
    }

    public static void main(String[] args) {
        nameTheSelectorProvider();
        boolean terminal = Boolean.getBoolean(TERMINAL_PROPERTY);
        ExitCode code = run(args, System.getenv(), System.out, System.err, terminal);
        if (code != ExitCode.OK) {
            System.exit(code.code());
        }
        // Success: main returns and the JVM ends with it (every thread the client starts is a daemon).
        // System.exit would first look up a System.Logger to log the exit: some 60 classes, about 5 ms.
    }

    /**
     * Names Linux's own selector provider, on Linux: otherwise
     * {@code Selector.open} first scans the class path for another (a
     * {@code ServiceLoader} lookup), which costs a short run a few
     * milliseconds. The training run does the same, so that the start-up
     * cache holds no class of that lookup.
     */
    public static void nameTheSelectorProvider() {
        if (System.getProperty(SELECTOR_PROVIDER) == null && System.getProperty("os.name").equals("Linux")) {
            System.setProperty(SELECTOR_PROVIDER, "sun.nio.ch.EPollSelectorProvider");
        }
    }

    /**
     * Sends the file named in {@code args}, or prints the help or the version
     * on {@code out}; every failure is one line on {@code err}.
     *
     * @param terminal whether {@code err} is a terminal, to draw the progress line on
     */
    public static ExitCode run(String[] args, Map<String, String> env, PrintStream out, PrintStream err,
                               boolean terminal) {
        Progress progress = null;
        try {
            var parsed = ClientArgs.OPTIONS.parse(args, env, ClientArgs.USAGE);
            if (parsed.help()) {
                out.println(help());
                return ExitCode.OK;
            }
            if (parsed.version()) {
                out.println(Version.line("ferry-client"));
                return ExitCode.OK;
            }
            ClientConfig config = ClientArgs.config(parsed.positionals(), parsed.settings());
            if (config.files().size() > 1) {
                return Batch.run(config, err);
            }
            var sender = new Sender(config);
            long started = System.nanoTime();
            if (terminal && !config.quiet()) {
                progress = Progress.start(sender, config.server(), err);
            }
            long sent = sender.send();
            if (progress != null || config.verbose()) {
                String summary = Progress.summary(sent, config.server(), System.nanoTime() - started);
                if (progress != null) {
                    progress.succeeded(summary);
                } else {
                    err.println(summary);
                }
            }
            return ExitCode.OK;
        } catch (UserError e) {
            end(progress);
            err.println(e.line());
            return e.exitCode();
        } catch (RuntimeException e) {
            end(progress);
            err.println("ERROR: unexpected failure: " + e);
            return ExitCode.FAILURE;
        }
    }

    /** Ends the progress line, if there is one, so that the ERROR: line starts a line of its own. */
    private static void end(Progress progress) {
        if (progress != null) {
            progress.end();
        }
    }

    /** What {@code --help} prints. */
    static String help() {
        return ClientArgs.USAGE.replace(" <HOSTNAME-OR-IP>", " [OPTIONS] <HOSTNAME-OR-IP>") + "\n\n"
                + "Sends FILENAME's bytes over one TCP connection to HOSTNAME-OR-IP:PORT (raw, no header),\n"
                + "half-closes, and exits 0 once the server has closed its side too: its sign that it read the\n"
                + "last byte. FILENAME - is standard input. Every option is also an environment variable (a flag\n"
                + "wins); options come before <HOSTNAME-OR-IP>.\n\n"
                + "Several files: " + ClientArgs.PROGRAM + " HOST PORT FILE FILE... sends each over a connection of its\n"
                + "own, in the order given (a ferry server numbers them in that order), --parallel N at once;\n"
                + "the first failure stops the batch (files under way finish), and one ERROR: line names the\n"
                + "file that failed, the files sent and the files not sent. No progress line; --verbose prints\n"
                + "one summary line per file.\n\n"
                + "TLS (--tls, or --cacert or --cert): TLS 1.3 or 1.2 on every connection; the server's certificate\n"
                + "must chain to the system's trust store (or --cacert) and name HOSTNAME-OR-IP, else the handshake\n"
                + "fails before any byte is sent. After the last byte the client sends close_notify, and exits 0\n"
                + "only once the server's close_notify arrives: a close without it is an ERROR:.\n\n"
                + "Options:\n" + ClientArgs.OPTIONS.help() + "\n\n"
                + "Progress: when standard error is a terminal, a line there shows the bytes sent, the rate and,\n"
                + "when the size is known, the percentage and the time left; it ends as the --verbose summary.\n"
                + "Nothing is drawn when standard error is not a terminal. --quiet and --verbose together are an\n"
                + "error, unless one is a flag and the other a variable: then the flag wins.\n\n"
                + "Exit codes: 0 the server confirmed the upload; 1 a network, server or file failure (one\n"
                + "ERROR: line); 2 wrong arguments or option values (one ERROR: line).";
    }
}
