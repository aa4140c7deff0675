package ferry;

import ferry.client.ClientMain;
import ferry.common.ExitCode;
import ferry.server.ServerMain;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The build's training run for the JVM's start-up cache (the AOT cache on JDK
 * 25+, a CDS archive on JDK 21-24): one upload from the client to the server,
 * both in this process, on loopback, so that the classes both programs load
 * are recorded. Run by {@code bin/ferry-lib.sh}, not by users.
 */
public final class Training {
    private Training() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Files.createTempDirectory("ferry-training-");
        var quiet = new PrintStream(OutputStream.nullOutputStream());
        var stop = new PipedOutputStream();
        var stopPipe = new PipedInputStream(stop);
        try {
            String port = Integer.toString(freePort());
            var server = Thread.ofPlatform().start(() ->
                    new ServerMain(Map.of(), quiet, quiet).run(new String[] {port, dir.resolve("files").toString()}, stopPipe));
            Path file = Files.write(dir.resolve("upload"), new byte[64 * 1024]);
            ExitCode sent = ExitCode.FAILURE;
            for (int attempt = 0; attempt < 250 && sent != ExitCode.OK; attempt++) {
                sent = ClientMain.run(new String[] {"127.0.0.1", port, file.toString()}, Map.of(), quiet);
                if (sent != ExitCode.OK) {
                    Thread.sleep(20); // the server is not listening yet
                }
            }
            stop.close();
            server.join(10_000);
            if (sent != ExitCode.OK) {
                throw new IllegalStateException("the training upload failed");
            }
        } finally {
            try (Stream<Path> paths = Files.walk(dir)) {
                paths.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
            }
        }
    }

    private static int freePort() throws IOException {
        try (var socket = new ServerSocket()) {
            socket.bind(new InetSocketAddress("127.0.0.1", 0));
            return socket.getLocalPort();
        }
    }
}
