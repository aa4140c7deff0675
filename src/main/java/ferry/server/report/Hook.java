package ferry.server.report;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * One run of the upload hook for one upload: {@code /bin/sh -c 'CMD "$@"'}
 * with the file's path as its one argument, the upload's facts in its
 * environment, standard input from {@code /dev/null}, standard output
 * discarded and the last {@value #STDERR_TAIL} bytes of standard error kept.
 * Of the server's own environment the hook gets only the {@link #ALLOWED}
 * variables and those the operator names ({@code --on-upload-env}): the
 * server's may hold secrets (S3 keys, the counter's password) that a hook
 * has no use for, and whose stderr ends up in the log.
 * Started, waited for and, if need be, ended by one {@link HookRunner} worker;
 * {@link #terminate} and {@link #kill} may come from another thread (a stop).
 */
final class Hook {
    /** Bytes of a hook's standard error kept for its log line: the last 1 KiB. */
    static final int STDERR_TAIL = 1024;
    /**
     * How long the stderr reader may go on after the hook's shell has exited:
     * only a process the hook left in the background, still holding its
     * standard error, makes it wait this long (then the tail is taken as it is).
     */
    private static final Duration STDERR_LINGER = Duration.ofMillis(200);
    /**
     * The server's variables every hook gets, when set: where programs are
     * and the user, locale and time zone they run for. {@code LC_*} stands
     * for every name that starts with {@code LC_}.
     */
    static final List<String> ALLOWED = List.of("PATH", "HOME", "LANG", "LC_*", "TZ", "USER", "LOGNAME", "SHELL",
            "TMPDIR");
    /** How often ending processes are checked for while they are not children of ours. */
    private static final long POLL_MILLIS = 20;

    /** Why a hook was ended before it finished. */
    enum Ending {
        /** It ran longer than {@code --on-upload-timeout-ms}. */
        TIMEOUT,
        /** The server stopped, and its grace period ran out. */
        STOP
    }

    /** What became of a hook: its exit status (128 + N after signal N), or why it has none. */
    record Result(UploadRecord upload, Integer exit, long millis, Ending ending, String stderr, String error) {
    }

    private final UploadRecord upload;
    private final Process process;
    private final long startNanos;
    private final Tail tail = new Tail();
    private final Thread reader;
    private final AtomicReference<Ending> ending = new AtomicReference<>();
    /** The process tree as it was when the first SIGTERM went out: what {@link #kill} ends. */
    private volatile List<ProcessHandle> tree = List.of();

    private Hook(UploadRecord upload, Process process, long startNanos) {
        this.upload = upload;
        this.process = process;
        this.startNanos = startNanos;
        this.reader = Thread.ofVirtual().name("ferry-hook-stderr-" + upload.number()).start(this::readStderr);
    }

    /**
     * Starts {@code command} for {@code upload}, passing on the server's
     * variables that are {@link #ALLOWED} or named in {@code passed}.
     *
     * @throws IOException if the shell cannot be started (no {@code /bin/sh}, no processes left)
     */
    static Hook start(String command, List<String> passed, UploadRecord upload) throws IOException {
        // "$@" appends the path as one word, never parsed by the shell: spaces and $(...) stay as they are.
        var builder = new ProcessBuilder("/bin/sh", "-c", command + " \"$@\"", "ferry-hook", upload.savedAs())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD);
        var env = builder.environment();
        env.keySet().removeIf(name -> !(allowed(name) || passed.contains(name)));
        env.put("FERRY_CONN", Long.toString(upload.number()));
        env.put("FERRY_FILE", upload.savedAs());
        env.put("FERRY_BYTES", Long.toString(upload.bytes()));
        env.put("FERRY_OUTCOME", upload.outcome().label());
        env.put("FERRY_PEER", upload.peer());
        env.put("FERRY_SHA256", upload.sha256() == null ? "" : upload.sha256());
        env.put("FERRY_REASON", upload.reason() == null ? "" : upload.reason());
        if (upload.tls() != null) {
            // Over TLS only: a plain server's hooks see what they always saw.
            env.put("FERRY_TLS", upload.tls());
            env.put("FERRY_TLS_CLIENT", upload.tlsClient() == null ? "" : upload.tlsClient());
        }
        long start = System.nanoTime();
        return new Hook(upload, builder.start(), start);
    }

    /** True for a name of {@link #ALLOWED}. */
    static boolean allowed(String name) {
        return name.startsWith("LC_") || ALLOWED.contains(name);
    }

    /** The result of a hook that could not be started. */
    static Result notStarted(UploadRecord upload, String error) {
        return new Result(upload, null, 0, null, "", error);
    }

    UploadRecord upload() {
        return upload;
    }

    /**
     * Waits for the hook to end, ending it (SIGTERM, then SIGKILL after
     * {@code grace}) once it has run for {@code timeout}.
     */
    Result await(Duration timeout, Duration grace) throws InterruptedException {
        long left = startNanos + timeout.toNanos() - System.nanoTime();
        if (!process.waitFor(Math.max(0, left), TimeUnit.NANOSECONDS)) {
            terminate(Ending.TIMEOUT);
            if (!awaitTree(System.nanoTime() + grace.toNanos())) {
                kill();
            }
        }
        // SIGKILL cannot be refused; the bound only guards against a process stuck in the kernel.
        boolean exited = process.waitFor(grace.toNanos(), TimeUnit.NANOSECONDS);
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
        reader.join(STDERR_LINGER);
        return new Result(upload, exited ? process.exitValue() : null, millis, ending.get(), tail.text(), null);
    }

    /**
     * Sends SIGTERM to the hook's shell and every process below it, and
     * remembers them for {@link #kill}. Only the first ending counts; a
     * second caller (a stop as the timeout passes) returns once the tree is known.
     */
    synchronized void terminate(Ending why) {
        if (!ending.compareAndSet(null, why)) {
            return;
        }
        // Children first seen now: once the shell is gone they are no longer its descendants.
        var all = new ArrayList<ProcessHandle>();
        all.add(process.toHandle());
        process.descendants().forEach(all::add);
        tree = List.copyOf(all);
        tree.forEach(ProcessHandle::destroy);
    }

    /** Waits until every process of the ended tree is gone, or the deadline ({@link System#nanoTime()}) passes. */
    boolean awaitTree(long deadlineNanos) throws InterruptedException {
        // The shell is our child and its exit is an event; the others are not, so they are polled.
        process.waitFor(Math.max(0, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
        while (tree.stream().anyMatch(Hook::alive)) {
            if (deadlineNanos - System.nanoTime() <= 0) {
                return false;
            }
            Thread.sleep(POLL_MILLIS);
        }
        return true;
    }

    /** SIGKILL to what {@link #terminate} found, and to whatever the shell has started since. */
    void kill() {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        tree.forEach(ProcessHandle::destroyForcibly);
    }

    /**
     * True while {@code process} runs. A zombie (dead, not yet reaped) does
     * not: a child whose shell is gone is reaped by whoever adopted it, maybe
     * late, and {@link ProcessHandle#isAlive} counts it until then.
     */
    private static boolean alive(ProcessHandle process) {
        if (!process.isAlive()) {
            return false;
        }
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(process.pid()), "stat"));
            // The state follows the command name, which is in parentheses and may hold anything.
            char state = stat.charAt(stat.lastIndexOf(')') + 2);
            return state != 'Z' && state != 'X';
        } catch (IOException | RuntimeException e) {
            return process.isAlive();
        }
    }

    private void readStderr() {
        try (InputStream in = process.getErrorStream()) {
            byte[] chunk = new byte[4096];
            for (int n; (n = in.read(chunk)) >= 0; ) {
                tail.add(chunk, n);
            }
        } catch (IOException e) {
            // The pipe failed or closed: what was read is the tail.
        }
    }

    /** The last {@value #STDERR_TAIL} bytes written, in a ring. */
    static final class Tail {
        private final byte[] ring = new byte[STDERR_TAIL];
        private long total;

        synchronized void add(byte[] bytes, int length) {
            // Of a chunk larger than the ring only its end can stay.
            int from = Math.max(0, length - ring.length);
            total += from;
            for (int i = from; i < length; i++) {
                ring[(int) (total++ % ring.length)] = bytes[i];
            }
        }

        /** The tail as text: UTF-8 (malformed bytes replaced), "..." first when cut, trailing blanks off. */
        synchronized String text() {
            int size = (int) Math.min(total, ring.length);
            byte[] bytes = new byte[size];
            int start = (int) ((total - size) % ring.length);
            for (int i = 0; i < size; i++) {
                bytes[i] = ring[(start + i) % ring.length];
            }
            int skip = 0;
            if (total > size) {
                // Cut in the middle of a character: start at the next whole one.
                while (skip < size && skip < 3 && (bytes[skip] & 0xC0) == 0x80) {
                    skip++;
                }
            }
            String text;
            try {
                text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPLACE)
                        .onUnmappableCharacter(CodingErrorAction.REPLACE)
                        .decode(ByteBuffer.wrap(bytes, skip, size - skip)).toString();
            } catch (java.nio.charset.CharacterCodingException e) {
                text = ""; // cannot happen with REPLACE
            }
            return (total > size ? "..." : "") + text.stripTrailing();
        }
    }
}
