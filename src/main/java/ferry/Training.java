package ferry;

import ferry.client.ClientMain;
import ferry.common.ExitCode;
import ferry.server.ServerMain;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.io.PrintStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

/**
 * The build's training runs for the JVM's start-up caches (the AOT cache on
 * JDK 25+, a CDS archive on JDK 21-24), one per program, so that each cache
 * holds what that program loads and nothing else:
 * <ul>
 * <li>{@code Training server}: the server alone receives eight uploads of 16 MiB
 * from a raw socket in this process, on loopback, one after another, and is
 * stopped through its parent pipe;</li>
 * <li>{@code Training client}: the client alone sends a small file and a
 * larger one (the two ways it sends) to a raw receiver in this process.</li>
 * </ul>
 * Run by {@code bin/ferry-lib.sh} under a time limit, not by users. Every
 * wait here has a deadline of its own too, and a failure is one line on
 * standard error and exit code 1. {@code FERRY_TRAINING_FAULT=fail} or
 * {@code hang} makes a run fail or hang, so that tests can check that a
 * broken training neither stops nor stalls a launch.
 */
public final class Training {
    private static final int WAIT_MS = 10_000;
    private static final int UPLOAD_BYTES = 64 * 1024;
    /**
     * The server's training uploads, one after another: enough bytes for the data path's methods to be hot,
     * so that the AOT cache (JDK 25) stores their profiles and a new server compiles them early.
     */
    private static final int SERVER_UPLOADS = 8;
    private static final int SERVER_UPLOAD_MIB = 16;

    private Training() {
    }

    public static void main(String[] args) {
        String program = args.length == 1 ? args[0] : "";
        try {
            switch (System.getenv().getOrDefault("FERRY_TRAINING_FAULT", "")) {
                case "fail" -> throw new IllegalStateException("failing as FERRY_TRAINING_FAULT=fail asks");
                case "hang" -> Thread.sleep(Long.MAX_VALUE);
                default -> {
                }
            }
            switch (program) {
                case "server" -> server();
                case "client" -> client();
                default -> throw new IllegalArgumentException("usage: ferry.Training server|client");
            }
        } catch (Exception e) {
            System.err.println("ERROR: training the " + program + " failed: " + e);
            System.exit(1);
        }
    }

    /** The server alone: start, {@link #SERVER_UPLOADS} uploads from a raw socket, stop through the parent pipe. */
    private static void server() throws Exception {
        Path dir = Files.createTempDirectory("ferry-training-");
        var log = new ByteArrayOutputStream();
        var out = new PrintStream(log, true, StandardCharsets.UTF_8);
        var stop = new PipedOutputStream();
        var stopPipe = new PipedInputStream(stop);
        var result = new AtomicReference<ExitCode>();
        try {
            int port = freePort();
            Path files = dir.resolve("files");
            var server = Thread.ofPlatform().name("training-server").daemon().start(() ->
                    result.set(new ServerMain(Map.of("FERRY_LISTEN", "127.0.0.1"), out, out).run(new String[] {Integer.toString(port), files.toString()}, stopPipe)));
            byte[] chunk = new byte[1 << 20];
            try {
                for (int n = 1; n <= SERVER_UPLOADS; n++) {
                    try (Socket socket = n == 1 ? connect(port) : new Socket("127.0.0.1", port)) {
                        socket.setSoTimeout(WAIT_MS);
                        for (int i = 0; i < SERVER_UPLOAD_MIB; i++) {
                            socket.getOutputStream().write(chunk);
                        }
                        socket.shutdownOutput();
                        if (socket.getInputStream().read() != -1) {
                            throw new IllegalStateException("the server sent data");
                        }
                    }
                    Path saved = files.resolve(n + ".file");
                    if (Files.size(saved) != (long) SERVER_UPLOAD_MIB << 20) {
                        throw new IllegalStateException(saved + " has " + Files.size(saved) + " bytes; " + log);
                    }
                    Files.delete(saved); // at most one upload's bytes on the disk at a time
                }
            } finally {
                stop.close();
                server.join(WAIT_MS);
            }
            if (result.get() != ExitCode.OK) {
                throw new IllegalStateException("the server did not stop in order: " + result.get() + "; " + log);
            }
        } finally {
            delete(dir);
        }
    }

    /**
     * The client alone: two files, one small (read and written) and one
     * larger (sent with {@code transferTo}), each to a raw receiver that reads
     * to end of file, then closes. Only what the client itself uses is
     * touched here: the cache holds every class a training run loads, and
     * each one a launch maps but does not use costs its start-up time (a
     * receiver on {@code java.net.Socket} and a temporary directory, whose
     * name comes from {@code SecureRandom}, added some 230 classes, about
     * 1.5 ms of CPU at every start).
     */
    private static void client() throws Exception {
        ClientMain.nameTheSelectorProvider();
        for (int size : new int[] {1000, UPLOAD_BYTES * 2}) {
            clientSends(size);
        }
    }

    private static void clientSends(int size) throws Exception {
        // A new name (CREATE_NEW), not Files.createTempFile: its random name would add SecureRandom's classes.
        Path file = Path.of(System.getProperty("java.io.tmpdir"), "ferry-training-" + System.nanoTime());
        var errors = new ByteArrayOutputStream();
        try (var receiver = ServerSocketChannel.open()) {
            receiver.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            try (var out = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                out.write(ByteBuffer.allocate(size));
            }
            var received = new long[] {-1};
            var reader = Thread.ofPlatform().name("training-receiver").daemon().start(() -> {
                try (SocketChannel socket = receiver.accept()) {
                    var buffer = ByteBuffer.allocate(UPLOAD_BYTES);
                    long total = 0;
                    for (int n; (n = socket.read(buffer.clear())) >= 0; ) {
                        total += n;
                    }
                    received[0] = total;
                } catch (IOException e) {
                    // Reported below as a failed upload.
                }
            });
            int port = ((InetSocketAddress) receiver.getLocalAddress()).getPort();
            ExitCode sent = ClientMain.run(new String[] {"127.0.0.1", Integer.toString(port), file.toString()},
                    Map.of("FERRY_CLIENT_TIMEOUT_MS", Integer.toString(WAIT_MS)), System.out,
                    new PrintStream(errors, true), false);
            reader.join(WAIT_MS);
            if (sent != ExitCode.OK || received[0] != size) {
                throw new IllegalStateException("the training upload failed: " + sent + ", " + received[0] + " of "
                        + size + " bytes received; " + errors.toString().strip());
            }
        } finally {
            Files.deleteIfExists(file);
        }
    }

    /** Connects once the server listens, trying for at most {@link #WAIT_MS}. */
    private static Socket connect(int port) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + WAIT_MS * 1_000_000L;
        while (true) {
            var socket = new Socket();
            try {
                socket.connect(new InetSocketAddress("127.0.0.1", port), WAIT_MS);
                return socket;
            } catch (ConnectException e) {
                socket.close();
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(10); // the server is not listening yet
            }
        }
    }

    private static int freePort() throws IOException {
        try (var socket = new ServerSocket()) {
            socket.bind(new InetSocketAddress("127.0.0.1", 0));
            return socket.getLocalPort();
        }
    }

    private static void delete(Path dir) throws IOException {
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        }
    }
}
