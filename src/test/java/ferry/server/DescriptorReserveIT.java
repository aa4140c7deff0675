package ferry.server;

import static org.assertj.core.api.Assertions.assertThat;

import ferry.it.FaultPeer;
import ferry.server.net.FerryServer;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.Socket;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Out of descriptors with every one of them a socket whose upload waits for
 * its file: the descriptors kept in reserve go to the waiting uploads, so
 * they get files and end, and the server serves every connection. Without
 * the reserve nothing could ever end (the livelock once seen in CI).
 */
class DescriptorReserveIT {
    private static final int CONNECTIONS = 300;

    @TempDir
    Path tmp;

    /**
     * <ol>
     * <li>A server under {@code ulimit -n 128} whose uploads open their files only once its
     * accept thread has run out of descriptors ({@link StarvedServer}); 300 connections arrive and
     * stay open.</li>
     * <li>While they are all held, uploads still get their files (from the reserve).</li>
     * <li>Once the senders close, all 300 are recorded complete, none given up for want of a
     * descriptor.</li>
     * <li>The same burst again: the reserve given up in the first was taken back, so it serves
     * the second as well.</li>
     * </ol>
     */
    @Test
    void theReserveLetsUploadsWaitingForTheirFilesEndWhenSocketsHoldEveryDescriptor() throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("files"));
        String classPath = Stream.of(StarvedServer.class, FerryServer.class)
                .map(DescriptorReserveIT::location).distinct().collect(Collectors.joining(File.pathSeparator));
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process child = new ProcessBuilder("/bin/sh", "-c", "ulimit -n 128 && exec \"$@\"", "starved",
                // Two event loops whatever the host's cores: each loop's selector takes descriptors of the 128.
                java, "-XX:ActiveProcessorCount=2", "-cp", classPath, StarvedServer.class.getName(), dir.toString())
                .redirectErrorStream(true).start();
        var log = new StringBuffer();
        var port = new CompletableFuture<Integer>();
        Thread.ofPlatform().daemon().start(() -> {
            try (var lines = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = lines.readLine()) != null) {
                    if (line.startsWith("port ")) {
                        port.complete(Integer.parseInt(line.substring(5)));
                    }
                    log.append(line).append('\n');
                }
            } catch (IOException e) {
                // The child ended.
            }
            port.complete(-1);
        });
        try {
            int serverPort = port.get(60, TimeUnit.SECONDS);
            assertThat(serverPort).as("the child server started: %s", log).isPositive();
            burst(serverPort, dir, log, 1);
            var commands = child.getOutputStream();
            commands.write("arm\n".getBytes(StandardCharsets.UTF_8));
            commands.flush();
            assertThat(InProcessServer.await(Duration.ofSeconds(30), () -> log.indexOf("armed") >= 0))
                    .as("the child held its opens back again:%n%s", log).isTrue();
            burst(serverPort, dir, log, 2);
        } finally {
            child.destroy();
            if (!child.waitFor(10, TimeUnit.SECONDS)) {
                child.destroyForcibly().waitFor();
            }
        }
    }

    /** Burst {@code round}: 300 connections held until the server is out of descriptors, then closed. */
    private static void burst(int port, Path dir, StringBuffer log, int round) throws Exception {
        int from = log.length();
        long before = files(dir);
        try (var sockets = new FaultPeer.Connections()) {
            for (int i = 0; i < CONNECTIONS; i++) {
                sockets.add(new Socket("127.0.0.1", port));
            }
            assertThat(InProcessServer.await(Duration.ofSeconds(30), () -> log.indexOf("cannot create the file", from) >= 0))
                    .as("burst %d: the uploads wait for descriptors:%n%s", round, log).isTrue();
            assertThat(InProcessServer.await(Duration.ofSeconds(30), () -> files(dir) > before))
                    .as("burst %d: with every connection held, some upload gets its file:%n%s", round, log).isTrue();
        }
        long total = (long) round * CONNECTIONS;
        assertThat(InProcessServer.await(Duration.ofSeconds(90), () -> outcomes(log.toString()) >= total))
                .as("burst %d: all %d connections recorded:%n%s", round, total, log).isTrue();
        assertThat(log.toString().lines().filter(line -> line.contains("outcome=complete")).count())
                .as("burst %d: every upload complete:%n%s", round, log).isEqualTo(total);
        assertThat(files(dir)).isEqualTo(total);
    }

    private static long outcomes(String log) {
        return log.lines().filter(line -> line.contains(" outcome=")).count();
    }

    private static long files(Path dir) {
        try (var entries = Files.list(dir)) {
            return entries.filter(file -> file.getFileName().toString().endsWith(".file")).count();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String location(Class<?> type) {
        try {
            return Path.of(type.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}
