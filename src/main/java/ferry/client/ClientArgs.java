package ferry.client;

import ferry.common.Arguments;
import ferry.common.Options;
import ferry.common.Options.Option;
import ferry.common.Options.Settings;
import ferry.common.UserError;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Checks {@code [OPTIONS] <HOSTNAME-OR-IP> <PORT> <FILENAME>} before anything touches the network. */
final class ClientArgs {
    /** How usage and help name the command: {@code ./client}, or what a launcher sets ({@code -Dferry.program=ferry-client}). */
    static final String PROGRAM = System.getProperty("ferry.program", "./client");
    static final String USAGE = "usage: " + PROGRAM + " <HOSTNAME-OR-IP> <PORT> <FILENAME>";

    static final String QUIET = "FERRY_QUIET";
    static final String VERBOSE = "FERRY_VERBOSE";
    static final String PARALLEL = "FERRY_PARALLEL";
    static final String TLS = "FERRY_TLS";
    static final String CACERT = "FERRY_CACERT";
    static final String CERT = "FERRY_CERT";
    static final String KEY = "FERRY_KEY";
    /** Files sent at once at most, whatever --parallel asks. */
    static final int MAX_PARALLEL = 256;
    /** Files sent at once when --parallel is not given: 1, one after the other. */
    static final int DEFAULT_PARALLEL = 1;

    /**
     * Every option of the client, in the order {@code --help} lists them: the
     * one source of each option's flag, variable, default and help. The man
     * page and the docs' option tables are checked against {@code --help} by
     * {@code OptionDocsTest}.
     */
    static final Options OPTIONS = new Options(List.of(
            new Option("--quiet", QUIET, null, "off",
                    "no progress line: nothing on standard error but an ERROR: line").withShortFlag("-q"),
            new Option("--verbose", VERBOSE, null, "off",
                    "one summary line on standard error once the server confirmed: bytes, seconds, rate")
                    .withShortFlag("-v"),
            new Option("--timeout-ms", ClientConfig.TIMEOUT_VARIABLE, "MS",
                    Long.toString(ClientConfig.DEFAULT_TIMEOUT.toMillis()),
                    "limit for connecting (lookup included), each stall while sending, and the confirmation"),
            new Option("--parallel", PARALLEL, "N", Integer.toString(DEFAULT_PARALLEL),
                    "with several files: send up to N at once (at most " + MAX_PARALLEL + "), still connecting in order"),
            new Option("--tls", TLS, null, "off",
                    "TLS 1.3 or 1.2; the server's certificate is checked against the system's trust store and"
                            + " its name or IP against HOSTNAME-OR-IP; exit 0 only after the server's close_notify"),
            new Option("--cacert", CACERT, "FILE", "the system's trust store",
                    "trust the CA certificates of this PEM file instead; implies --tls"),
            new Option("--cert", CERT, "FILE", "none",
                    "present this client certificate (PEM chain, leaf first); needs --key; implies --tls"),
            new Option("--key", KEY, "FILE", "none",
                    "the client certificate's unencrypted private key (PEM: PKCS#8, PKCS#1 or SEC1); needs --cert")));

    private ClientArgs() {
    }

    /** Parses a command line that asks for neither help nor the version (for tests). */
    static ClientConfig parse(String[] args, Map<String, String> env) throws UserError {
        var parsed = OPTIONS.parse(args, env, USAGE);
        return config(parsed.positionals(), parsed.settings());
    }

    /** The configuration of {@code <HOSTNAME-OR-IP> <PORT> <FILENAME>} and the options' values. */
    static ClientConfig config(List<String> args, Settings settings) throws UserError {
        if (args.size() < 3) {
            throw UserError.usage("expected 3 arguments, got " + args.size() + "\n" + USAGE);
        }
        String host = host(args.get(0));
        int port = Arguments.port(args.get(1));
        var files = new ArrayList<Path>();
        for (String name : args.subList(2, args.size())) {
            Path file = file(name);
            if (file == ClientConfig.STANDARD_INPUT && files.contains(ClientConfig.STANDARD_INPUT)) {
                throw UserError.usage("standard input (-) can be sent only once");
            }
            files.add(file);
        }
        int parallel = (int) settings.number(PARALLEL, "a whole number from 1", MAX_PARALLEL, DEFAULT_PARALLEL);
        if (parallel < 1) {
            throw UserError.usage("invalid " + settings.label(PARALLEL) + " " + parallel + ": must be 1 or more");
        }
        var timeout = Duration.ofMillis(settings.number(ClientConfig.TIMEOUT_VARIABLE,
                "a whole number of milliseconds", 999_999_999L, ClientConfig.DEFAULT_TIMEOUT.toMillis()));
        boolean quiet = settings.on(QUIET);
        boolean verbose = settings.on(VERBOSE);
        if (quiet && verbose) {
            // A flag wins over the other's variable (FERRY_QUIET=1 in the environment, --verbose typed);
            // both given the same way contradict each other.
            if (settings.givenAsFlag(QUIET) == settings.givenAsFlag(VERBOSE)) {
                throw UserError.usage(settings.label(QUIET) + " and " + settings.label(VERBOSE)
                        + " cannot be used together");
            }
            quiet = settings.givenAsFlag(QUIET);
            verbose = !quiet;
        }
        // Only with TLS asked for: reading the files loads the JDK's security classes, which a plain run does without.
        boolean tls = settings.on(TLS) || settings.get(CACERT) != null || settings.get(CERT) != null
                || settings.get(KEY) != null;
        return new ClientConfig(host, port, files.get(0), timeout, quiet, verbose, List.copyOf(files), parallel,
                tls ? ClientTls.create(settings) : null);
    }

    /** Accepts a name or an address; strips the brackets of "[::1]". */
    static String host(String text) throws UserError {
        String host = text;
        if (host.length() >= 2 && host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        if (host.isEmpty() || host.length() > 253 || !host.codePoints().allMatch(ClientArgs::hostCharacter)) {
            throw UserError.usage("invalid host " + Arguments.quote(text)
                    + ": must be a host name or an IPv4 or IPv6 address");
        }
        return host;
    }

    private static boolean hostCharacter(int c) {
        // Letters and digits of any script (IDN), '-', '.', '_', and ':' and '%' for IPv6 literals.
        return Character.isLetterOrDigit(c) || c == '-' || c == '.' || c == '_' || c == ':' || c == '%';
    }

    /**
     * Checks the file to send: {@code -} is standard input, unchecked; any
     * other must exist, be readable and not be a directory. Pipes, FIFOs and
     * devices are files too.
     */
    static Path file(String text) throws UserError {
        if (text.equals("-")) {
            return ClientConfig.STANDARD_INPUT;
        }
        if (text.isEmpty()) {
            throw UserError.usage("invalid file \"\": must not be empty");
        }
        Path file;
        try {
            file = Path.of(text);
        } catch (InvalidPathException e) {
            throw UserError.usage("invalid file " + Arguments.quote(text) + ": " + e.getReason());
        }
        if (!Files.exists(file)) {
            throw UserError.usage("file " + Arguments.quote(text) + " does not exist");
        }
        if (Files.isDirectory(file)) {
            throw UserError.usage("file " + Arguments.quote(text) + " is a directory");
        }
        if (!Files.isReadable(file)) {
            throw UserError.usage("file " + Arguments.quote(text) + " is not readable");
        }
        return file;
    }
}
