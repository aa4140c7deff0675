package ferry.server;

import ferry.server.numbering.LocalCounter;
import ferry.server.store.FileSink;
import ferry.server.store.SinkFactory;
import ferry.server.store.UploadSink;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;

/**
 * Run by {@link DescriptorReserveIT} in a child JVM under a small descriptor
 * limit: a server whose uploads cannot open their files until its accept
 * thread has run out of descriptors. So every descriptor the connections can
 * have is a socket before any upload holds a file: the burst that livelocks
 * a server without a reserve, made certain instead of rare. Prints
 * {@code port N}, then the server's log. Each line {@code arm} on its
 * standard input holds the opens back again until the next time the accept
 * thread runs out (a second burst, after the first has ended), and is
 * answered with {@code armed}.
 */
final class StarvedServer {
    private StarvedServer() {
    }

    /** Opened when the accept thread has run out of descriptors; replaced by each {@code arm}. */
    private static volatile CountDownLatch outOfDescriptors = new CountDownLatch(1);

    public static void main(String[] args) throws Exception {
        var log = new PrintStream(new OutputStream() {
            private final StringBuilder line = new StringBuilder();

            @Override
            public void write(int b) {
                System.out.write(b);
                if (b != '\n') {
                    line.append((char) b);
                    return;
                }
                System.out.flush();
                if (line.indexOf("accept failed (Too many open files") >= 0) {
                    outOfDescriptors.countDown();
                }
                line.setLength(0);
            }
        }, true, StandardCharsets.UTF_8);
        SinkFactory files = FileSink.in(Path.of(args[0]));
        SinkFactory held = new SinkFactory() {
            @Override
            public UploadSink open(long number) throws IOException {
                try {
                    outOfDescriptors.await();
                } catch (InterruptedException e) {
                    throw new IOException("stopped", e);
                }
                return files.open(number);
            }

            @Override
            public String locate(long number) {
                return files.locate(number);
            }
        };
        var config = new ServerConfig(0, Path.of(args[0]), Duration.ofSeconds(60), 1000, 0, Duration.ZERO);
        var server = InProcessServer.start(config, new LocalCounter(), held, log);
        System.out.println("port " + server.port());
        System.out.flush();
        try (var commands = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            String command;
            while ((command = commands.readLine()) != null) {
                if (command.equals("arm")) {
                    outOfDescriptors = new CountDownLatch(1);
                    log.println("armed");
                }
            }
        }
        server.awaitStopped();
    }
}
