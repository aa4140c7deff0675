package ferry.server;

import ferry.common.Arguments;
import ferry.common.Options.Option;
import ferry.common.Options.Settings;
import ferry.common.Options;
import ferry.common.UserError;
import ferry.server.net.AccessRules;
import ferry.server.net.MinFree;
import ferry.server.numbering.CounterOptions;
import ferry.server.report.HookOptions;
import ferry.server.report.LogFormat;
import ferry.server.store.S3Options;
import ferry.server.tls.ServerTls;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Checks {@code [OPTIONS] <PORT> <FILE-DIR>} and the options' values, touching nothing. */
final class ServerArgs {
    /** How usage and help name the command: {@code ./server}, or what a launcher sets ({@code -Dferry.program=ferry-server}). */
    static final String PROGRAM = System.getProperty("ferry.program", "./server");
    static final String USAGE = "usage: " + PROGRAM + " <PORT> <FILE-DIR>";

    static final String LISTEN = "FERRY_LISTEN";
    static final String ALLOW = "FERRY_ALLOW";
    static final String DENY = "FERRY_DENY";
    static final String MIN_FREE = "FERRY_MIN_FREE";
    static final String MAX_PER_PEER = "FERRY_MAX_PER_PEER";
    static final String CHECKSUM = "FERRY_CHECKSUM";
    static final String FSYNC = "FERRY_FSYNC";
    static final String LOG_FORMAT = "FERRY_LOG_FORMAT";
    static final String ON_UPLOAD = "FERRY_ON_UPLOAD";
    static final String ON_UPLOAD_JOBS = "FERRY_ON_UPLOAD_JOBS";
    static final String ON_UPLOAD_TIMEOUT = "FERRY_ON_UPLOAD_TIMEOUT_MS";
    static final String ON_UPLOAD_ENV = "FERRY_ON_UPLOAD_ENV";
    static final String METRICS = "FERRY_METRICS";
    static final String COUNTER = "FERRY_COUNTER";
    static final String S3_PART = "FERRY_S3_PART_MIB";
    static final String S3_MEMORY = "FERRY_S3_MEMORY_MIB";
    static final String S3_PATH_STYLE = "FERRY_S3_PATH_STYLE";
    static final String TLS_CERT = "FERRY_TLS_CERT";
    static final String TLS_KEY = "FERRY_TLS_KEY";
    static final String TLS_CLIENT_CA = "FERRY_TLS_CLIENT_CA";
    /** A hook still running after this long is ended: 60 s. */
    static final Duration DEFAULT_HOOK_TIMEOUT = Duration.ofSeconds(60);

    /**
     * Every option of the server, in the order {@code --help} lists them: the
     * one source of each option's flag, variable, default and help. The
     * package's /etc/default/ferry is made from {@code --help}; the man page
     * and the docs' option tables are checked against it by
     * {@code OptionDocsTest}.
     */
    static final Options OPTIONS = new Options(List.of(
            new Option("--listen", LISTEN, "ADDR", "every interface, IPv4 and IPv6",
                    "listen on this one address only"),
            new Option("--allow", ALLOW, "CIDR,...", "everyone",
                    "accept only peers in these ranges (IPv4 and IPv6); others are reset, unnumbered"),
            new Option("--deny", DENY, "CIDR,...", "no one", "reset peers in these ranges, unnumbered"),
            new Option("--max-per-peer", MAX_PER_PEER, "N", "no limit",
                    "connections one address may hold at once; more are reset, unnumbered"),
            new Option("--min-free", MIN_FREE, "SIZE|N%", "none",
                    "start no upload while FILE-DIR's file system has less free space (500M, 2G, 5%)"),
            new Option("--max-connections", ServerConfig.MAX_CONNECTIONS_VARIABLE, "N",
                    "(open-file limit - " + ServerArgs.RESERVED_DESCRIPTORS + ") / 2",
                    "uploads at once; more wait in the accept queue"),
            new Option("--max-bytes", ServerConfig.MAX_BYTES_VARIABLE, "BYTES", "no limit",
                    "end larger uploads as ERROR (too-large)"),
            new Option("--max-duration-ms", ServerConfig.MAX_DURATION_VARIABLE, "MS", "no limit",
                    "end longer uploads as ERROR (too-long)"),
            new Option("--idle-timeout-ms", ServerConfig.IDLE_TIMEOUT_VARIABLE, "MS",
                    Long.toString(ServerConfig.DEFAULT_IDLE_TIMEOUT.toMillis()),
                    "end an upload silent this long as ERROR (idle-timeout)"),
            new Option("--buffer-mib", ServerConfig.BUFFER_MEMORY_VARIABLE, "MIB",
                    Long.toString(ServerConfig.DEFAULT_BUFFER_MEMORY >> 20),
                    "read buffers shared by all uploads, in 1 MiB chunks"),
            new Option("--checksum", CHECKSUM, "sha256", "off",
                    "log each upload's SHA-256, computed as its bytes arrive"),
            new Option("--fsync", FSYNC, null, "off",
                    "put each complete upload on stable storage before confirming it (FERRY_FSYNC=1)"),
            new Option("--log-format", LOG_FORMAT, "text|json", "text", "one line of text, or one JSON object, per event"),
            new Option("--on-upload", ON_UPLOAD, "CMD", "none",
                    "after each upload, run the shell command CMD with the file's path as its last argument"),
            new Option("--on-upload-jobs", ON_UPLOAD_JOBS, "N", "the number of cores", "hooks running at once"),
            new Option("--on-upload-timeout-ms", ON_UPLOAD_TIMEOUT, "MS", Long.toString(DEFAULT_HOOK_TIMEOUT.toMillis()),
                    "end a hook running this long"),
            new Option("--on-upload-env", ON_UPLOAD_ENV, "NAME,...", "none",
                    "pass these variables of the server's environment on to hooks too (besides PATH, HOME, LANG,"
                            + " LC_*, TZ, USER, LOGNAME, SHELL, TMPDIR)"),
            new Option("--metrics", METRICS, "[ADDR:]PORT", "off", "serve Prometheus metrics at http://ADDR:PORT/metrics"),
            new Option("--counter", COUNTER, "URL", "local, from 1 per process",
                    "number connections from a PostgreSQL database shared by several receivers"
                            + " (postgresql://USER@HOST:PORT/DB, the password from the file PGPASSFILE names)"),
            new Option("--s3-part-mib", S3_PART, "MIB", Integer.toString(S3Options.DEFAULT_PART_MIB),
                    "with FILE-DIR s3://BUCKET/PREFIX: the size of each multipart part (5 or more)"),
            new Option("--s3-memory-mib", S3_MEMORY, "MIB", Integer.toString(S3Options.DEFAULT_MEMORY_MIB),
                    "with s3://: part buffers of all uploads together, at least two parts"),
            new Option("--s3-path-style", S3_PATH_STYLE, null, "for IP and localhost endpoints",
                    "with s3://: address the bucket in the URL's path, not its host name (FERRY_S3_PATH_STYLE=1)"),
            new Option("--tls-cert", TLS_CERT, "FILE", "off (plain TCP)",
                    "serve TLS 1.3/1.2 only, with this PEM certificate chain (leaf first); needs --tls-key"),
            new Option("--tls-key", TLS_KEY, "FILE", "none", "the unencrypted PEM private key of --tls-cert"),
            new Option("--tls-client-ca", TLS_CLIENT_CA, "FILE", "none",
                    "with --tls-cert: serve only senders whose certificate chains to these PEM CAs (mutual TLS)")));

    private ServerArgs() {
    }

    /** Parses a command line that asks for neither help nor the version (for tests). */
    static ServerConfig parse(String[] args, Map<String, String> env) throws UserError {
        var parsed = OPTIONS.parse(args, env, USAGE);
        return config(parsed.positionals(), parsed.settings());
    }

    /** The configuration of {@code <PORT> <FILE-DIR>} and the options' values. */
    static ServerConfig config(List<String> args, Settings settings) throws UserError {
        if (args.size() != 2) {
            throw UserError.usage("expected 2 arguments, got " + args.size() + "\n" + USAGE);
        }
        int port = Arguments.port(args.get(0));
        S3Options s3 = s3(args.get(1), settings);
        Path directory = s3 == null ? directory(args.get(1)) : null;
        var idle = Duration.ofMillis(settings.number(ServerConfig.IDLE_TIMEOUT_VARIABLE,
                "a whole number of milliseconds", 999_999_999L, ServerConfig.DEFAULT_IDLE_TIMEOUT.toMillis()));
        int maxConnections = (int) settings.number(ServerConfig.MAX_CONNECTIONS_VARIABLE, "a whole number",
                1_000_000, defaultMaxConnections(openFileLimit()));
        long maxBytes = settings.number(ServerConfig.MAX_BYTES_VARIABLE, "a whole number of bytes",
                Long.MAX_VALUE, 0);
        var maxDuration = Duration.ofMillis(settings.number(ServerConfig.MAX_DURATION_VARIABLE,
                "a whole number of milliseconds", 999_999_999_999L, 0));
        long bufferMemory = settings.number(ServerConfig.BUFFER_MEMORY_VARIABLE, "a whole number of MiB",
                1 << 20, ServerConfig.DEFAULT_BUFFER_MEMORY >> 20) << 20;
        var service = service(settings, s3);
        if (s3 != null && service.minFree() != null) {
            throw UserError.usage(settings.label(MIN_FREE) + " applies to a directory, not to " + s3);
        }
        if (s3 != null && service.fsync()) {
            throw UserError.usage(settings.label(FSYNC) + " applies to a directory: an object in " + s3
                    + " is stored durably before it is confirmed anyway");
        }
        return new ServerConfig(port, directory, idle, maxConnections, maxBytes, maxDuration, bufferMemory, service);
    }

    /**
     * {@code s3://BUCKET[/PREFIX]} and the S3 options, or null when FILE-DIR is
     * a directory (and then no S3 option may be set). Checked as text only:
     * nothing of the S3 SDK is loaded here.
     */
    static S3Options s3(String text, Settings settings) throws UserError {
        if (!text.regionMatches(true, 0, "s3://", 0, 5)) {
            for (String variable : List.of(S3_PART, S3_MEMORY, S3_PATH_STYLE)) {
                if (settings.get(variable) != null) {
                    throw UserError.usage(settings.label(variable) + " applies to FILE-DIR s3://BUCKET/PREFIX only");
                }
            }
            return null;
        }
        String rest = text.substring(5);
        int slash = rest.indexOf('/');
        String bucket = slash < 0 ? rest : rest.substring(0, slash);
        String prefix = slash < 0 ? "" : rest.substring(slash + 1).replaceAll("/+$", "");
        // S3's rules for a bucket's name: 3 to 63 lower-case letters, digits, dots and hyphens.
        if (!bucket.matches("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")) {
            throw UserError.usage("invalid FILE-DIR " + Arguments.quote(text)
                    + ": the bucket must be 3-63 lower-case letters, digits, dots and hyphens (s3://BUCKET/PREFIX)");
        }
        if (prefix.startsWith("/") || prefix.contains("//") || !prefix.codePoints().allMatch(c -> c >= 0x20 && c != 0x7f)) {
            throw UserError.usage("invalid FILE-DIR " + Arguments.quote(text)
                    + ": the prefix must not begin with / nor have empty parts or control characters");
        }
        long partMib = settings.number(S3_PART, "a whole number of MiB", 5 * 1024, S3Options.DEFAULT_PART_MIB);
        if (partMib < 5) {
            throw UserError.usage("invalid " + settings.label(S3_PART) + " " + partMib
                    + ": S3 takes parts of 5 MiB or more");
        }
        long memoryMib = settings.number(S3_MEMORY, "a whole number of MiB", 1 << 20,
                Math.max(S3Options.DEFAULT_MEMORY_MIB, 2 * partMib));
        if (memoryMib < 2 * partMib) {
            throw UserError.usage("invalid " + settings.label(S3_MEMORY) + " " + memoryMib
                    + ": must hold at least two parts of " + partMib + " MiB");
        }
        return new S3Options(bucket, prefix, (int) (partMib << 20), memoryMib << 20,
                settings.on(S3_PATH_STYLE));
    }

    /** The operator's options, each checked in the order {@code --help} lists them; unset ones are the spec's. */
    private static ServiceOptions service(Settings settings, S3Options s3) throws UserError {
        String listenText = settings.get(LISTEN);
        InetAddress listen = listenText == null ? null : address(settings.label(LISTEN), listenText);
        String allow = settings.get(ALLOW);
        String deny = settings.get(DENY);
        AccessRules access = allow == null && deny == null ? AccessRules.EVERYONE : new AccessRules(
                allow == null ? List.of() : AccessRules.ranges(settings.label(ALLOW), allow),
                deny == null ? List.of() : AccessRules.ranges(settings.label(DENY), deny));
        int maxPerPeer = (int) settings.number(MAX_PER_PEER, "a whole number", 1_000_000, 0);
        if (maxPerPeer > 0) {
            access = access.withMaxPerPeer(maxPerPeer);
        }
        String minFreeText = settings.get(MIN_FREE);
        MinFree minFree = minFreeText == null ? null : MinFree.parse(settings.label(MIN_FREE), minFreeText);
        String checksumText = settings.get(CHECKSUM);
        if (checksumText != null && !checksumText.equalsIgnoreCase("sha256") && !checksumText.equalsIgnoreCase("off")) {
            throw UserError.usage("invalid " + settings.label(CHECKSUM) + " " + Arguments.quote(checksumText)
                    + ": must be sha256 (or off)");
        }
        boolean checksum = checksumText != null && checksumText.equalsIgnoreCase("sha256");
        boolean fsync = settings.on(FSYNC);
        String format = settings.get(LOG_FORMAT);
        LogFormat logFormat = format == null ? LogFormat.TEXT : switch (format.toLowerCase(Locale.ROOT)) {
            case "text" -> LogFormat.TEXT;
            case "json" -> LogFormat.JSON;
            default -> throw UserError.usage("invalid " + settings.label(LOG_FORMAT) + " "
                    + Arguments.quote(format) + ": must be text or json");
        };
        int jobs = (int) settings.number(ON_UPLOAD_JOBS, "a whole number", 1024,
                Runtime.getRuntime().availableProcessors());
        var hookTimeout = Duration.ofMillis(settings.number(ON_UPLOAD_TIMEOUT, "a whole number of milliseconds",
                999_999_999L, DEFAULT_HOOK_TIMEOUT.toMillis()));
        String command = settings.get(ON_UPLOAD);
        if (command != null && command.isBlank()) {
            throw UserError.usage("invalid " + settings.label(ON_UPLOAD) + " \"\": must be a command");
        }
        String passedText = settings.get(ON_UPLOAD_ENV);
        List<String> passed = passedText == null ? List.of()
                : HookOptions.environment(settings.label(ON_UPLOAD_ENV), passedText);
        HookOptions hook = command == null ? null : new HookOptions(command, jobs, hookTimeout, passed);
        String metricsText = settings.get(METRICS);
        InetSocketAddress metrics = metricsText == null ? null : endpoint(settings.label(METRICS), metricsText);
        String counterText = settings.get(COUNTER);
        CounterOptions counter = counterText == null ? null : CounterOptions.parse(settings.label(COUNTER), counterText);
        return new ServiceOptions(listen, access, minFree, checksum, fsync, logFormat, hook, metrics, counter, s3,
                tls(settings));
    }

    /**
     * The server's TLS, or null when {@code --tls-cert} is not set: its files read and checked here, so that
     * a bad one stops the server before FILE-DIR is created. Nothing of TLS is loaded without it.
     */
    static ServerTls tls(Settings settings) throws UserError {
        String cert = settings.get(TLS_CERT);
        String key = settings.get(TLS_KEY);
        String clientCa = settings.get(TLS_CLIENT_CA);
        if (cert == null && key == null) {
            if (clientCa != null) {
                throw UserError.usage(settings.label(TLS_CLIENT_CA) + " needs --tls-cert (" + TLS_CERT
                        + ") and --tls-key (" + TLS_KEY + ") too: mutual TLS is TLS");
            }
            return null;
        }
        if (cert == null || key == null) {
            throw UserError.usage(settings.label(cert == null ? TLS_KEY : TLS_CERT) + " needs "
                    + (cert == null ? "--tls-cert (" + TLS_CERT : "--tls-key (" + TLS_KEY)
                    + ") too: the server's certificate and its private key");
        }
        for (String text : clientCa == null ? List.of(cert, key) : List.of(cert, key, clientCa)) {
            if (text.isEmpty()) {
                throw UserError.usage("invalid " + settings.label(text == cert ? TLS_CERT : text == key ? TLS_KEY
                        : TLS_CLIENT_CA) + " \"\": must be a file");
            }
        }
        return ServerTls.load(Path.of(cert), settings.label(TLS_CERT), Path.of(key), settings.label(TLS_KEY),
                clientCa == null ? null : Path.of(clientCa), clientCa == null ? null : settings.label(TLS_CLIENT_CA));
    }

    /** An address literal or a name of this host, e.g. {@code 127.0.0.1}, {@code ::1}, {@code localhost}. */
    static InetAddress address(String label, String text) throws UserError {
        String host = text.startsWith("[") && text.endsWith("]") ? text.substring(1, text.length() - 1) : text;
        if (host.isEmpty() || !host.codePoints().allMatch(c -> Character.isLetterOrDigit(c) || ".:-_%".indexOf(c) >= 0)) {
            throw UserError.usage("invalid " + label + " " + Arguments.quote(text) + ": must be an address of this host");
        }
        try {
            return InetAddress.getByName(host);
        } catch (UnknownHostException e) {
            throw UserError.usage("invalid " + label + " " + Arguments.quote(text) + ": unknown host");
        }
    }

    /** {@code PORT}, {@code ADDR:PORT} or {@code [IPV6]:PORT}; without an address, every interface. */
    static InetSocketAddress endpoint(String label, String text) throws UserError {
        int colon = text.lastIndexOf(':');
        String port = colon < 0 ? text : text.substring(colon + 1);
        String host = colon < 0 ? null : text.substring(0, colon);
        int number;
        try {
            number = Arguments.port(port);
        } catch (UserError e) {
            throw UserError.usage("invalid " + label + " " + Arguments.quote(text)
                    + ": must be PORT or ADDR:PORT, the port 1-65535 (e.g. 9100, 127.0.0.1:9100, [::1]:9100)");
        }
        if (host != null && host.contains(":") && !host.startsWith("[")) {
            throw UserError.usage("invalid " + label + " " + Arguments.quote(text)
                    + ": write an IPv6 address in brackets, e.g. [::1]:9100");
        }
        if (host == null) {
            return new InetSocketAddress(number);
        }
        try {
            return new InetSocketAddress(address(label, host), number);
        } catch (UserError e) {
            // The message quotes the whole value as given, not only its address part.
            throw UserError.usage(e.getMessage().replace(Arguments.quote(host), Arguments.quote(text)));
        }
    }

    /**
     * Uploads served at once when {@code FERRY_MAX_CONNECTIONS} is not set: each
     * takes two descriptors (socket and file), and {@link #RESERVED_DESCRIPTORS}
     * stay for the JVM itself, so that the limit is met before the process runs
     * out of descriptors.
     */
    static int defaultMaxConnections(long openFileLimit) {
        return (int) Math.max(1, Math.min(1_000_000, (openFileLimit - RESERVED_DESCRIPTORS) / 2));
    }

    /** Descriptors kept for the JVM (its jars, standard streams, selectors, pipes) and the listening socket. */
    static final int RESERVED_DESCRIPTORS = 64;

    /** The soft limit on open files, from /proc/self/limits (the JVM raises it to the hard limit at start). */
    static long openFileLimit() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/limits"))) {
                if (line.startsWith("Max open files")) {
                    String soft = line.substring("Max open files".length()).trim().split("\\s+")[0];
                    return soft.equals("unlimited") ? Long.MAX_VALUE : Long.parseLong(soft);
                }
            }
        } catch (IOException | RuntimeException e) {
            // Not Linux, or an unexpected format: fall through to a common default.
        }
        return 1024;
    }

    /**
     * Checks that the directory can be used, without creating or touching
     * anything (the server creates it only once it has bound its port): an
     * existing one must be a writable directory; for a missing one, the
     * nearest existing parent must be.
     */
    static Path directory(String text) throws UserError {
        if (text.isEmpty()) {
            throw UserError.usage("invalid directory \"\": must not be empty");
        }
        Path dir;
        try {
            dir = Path.of(text).toAbsolutePath().normalize();
        } catch (InvalidPathException e) {
            throw UserError.usage("invalid directory " + Arguments.quote(text) + ": " + e.getReason());
        }
        Path existing = dir;
        while (existing != null && !Files.exists(existing, LinkOption.NOFOLLOW_LINKS)) {
            existing = existing.getParent();
        }
        if (existing == null) {
            throw UserError.usage("cannot create directory " + Arguments.quote(text) + ": no such file or directory");
        }
        if (!Files.isDirectory(existing)) {
            throw UserError.usage(existing.equals(dir)
                    ? "directory " + Arguments.quote(text) + " is not a directory"
                    : "cannot create directory " + Arguments.quote(text) + ": " + existing + " is not a directory");
        }
        if (!Files.isWritable(existing) || !Files.isExecutable(existing)) {
            throw UserError.usage(existing.equals(dir)
                    ? "directory " + Arguments.quote(text) + " is not writable: permission denied"
                    : "cannot create directory " + Arguments.quote(text) + ": permission denied");
        }
        return dir;
    }
}
