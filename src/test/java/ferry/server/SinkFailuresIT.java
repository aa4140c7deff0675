package ferry.server;

import static org.assertj.core.api.Assertions.assertThat;

import ferry.it.FaultPeer;
import ferry.server.numbering.LocalCounter;
import ferry.server.store.FileSink;
import java.io.IOException;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One failure never spreads: a sink that throws (anything, at any step) ends
 * its own upload as {@code ERROR} with a log line, and every other upload, on
 * every event loop, goes on; the server keeps serving.
 */
class SinkFailuresIT {
    private static final Duration IDLE = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    private InProcessServer server;

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    private ScriptedSinks start() throws Exception {
        var sinks = new ScriptedSinks(FileSink.in(dir));
        server = new InProcessServer(new ServerConfig(0, dir, IDLE), new LocalCounter(), sinks);
        return sinks;
    }

    /** Opens {@code count} connections, numbered 1 to count in this order. */
    private FaultPeer.Connections connect(int count) throws Exception {
        var sockets = new FaultPeer.Connections();
        for (int i = 1; i <= count; i++) {
            sockets.add(new Socket("127.0.0.1", server.port()));
            Path file = dir.resolve(i + ".file");
            int n = i;
            assertThat(InProcessServer.await(Duration.ofSeconds(5),
                    () -> Files.exists(file) || server.log().contains("conn=" + n + " "))).isTrue();
        }
        return sockets;
    }

    private static byte[] payload(int n) {
        return ("payload of upload " + n).repeat(1000).getBytes(StandardCharsets.US_ASCII);
    }

    /**
     * Uploads 1 to 6 at once, of which {@code broken} has the failing sink:
     * that one is reset and logged as {@code outcome}; the others (on every
     * loop) are confirmed and saved; then six more uploads are served.
     */
    private void onlyTheBrokenUploadFails(int broken, String outcome, String reason) throws Exception {
        try (var sockets = connect(6)) {
            for (int i = 1; i <= 6; i++) {
                Uploads.End end = Uploads.send(sockets.get(i - 1), payload(i), Duration.ofSeconds(10));
                assertThat(end).as("upload %d", i).isEqualTo(i == broken ? Uploads.End.RESET : Uploads.End.CONFIRMED);
            }
        }
        for (int i = 1; i <= 6; i++) {
            if (i != broken) {
                assertThat(dir.resolve(i + ".file")).hasBinaryContent(payload(i));
            }
        }
        assertThat(server.log()).containsPattern("conn=" + broken + " .*outcome=" + outcome + " .*reason=\".*"
                + java.util.regex.Pattern.quote(reason));
        for (int i = 7; i <= 12; i++) {
            assertThat(Uploads.upload(server.port(), payload(i))).as("upload %d after the failure", i)
                    .isEqualTo(Uploads.End.CONFIRMED);
            assertThat(dir.resolve(i + ".file")).hasBinaryContent(payload(i));
        }
        assertThat(server.log()).doesNotContain("outcome=shutdown").doesNotContain("failed,");
    }

    @Test
    void aSinkThatThrowsWhileWritingEndsOnlyItsOwnUpload() throws Exception {
        start().script(3, new ScriptedSinks.Script() {
            @Override
            public void beforeWrite(ByteBuffer chunk) {
                throw new IllegalStateException("bug in the sink");
            }
        });
        onlyTheBrokenUploadFails(3, "write-failed", "unexpected failure: java.lang.IllegalStateException: bug in the sink");
        assertThat(dir.resolve("3.file")).hasContent("ERROR");
    }

    @Test
    void aSinkThatCannotBeOpenedEndsOnlyItsOwnUpload() throws Exception {
        start().script(2, new ScriptedSinks.Script() {
            @Override
            public void beforeOpen() {
                throw new IllegalArgumentException("no such bucket");
            }
        });
        onlyTheBrokenUploadFails(2, "write-failed", "cannot create the file: unexpected failure: "
                + "java.lang.IllegalArgumentException: no such bucket");
        assertThat(dir.resolve("2.file")).doesNotExist();
    }

    @Test
    void aSinkThatFailsToCompleteIsNotConfirmedAndReadsError() throws Exception {
        start().script(4, new ScriptedSinks.Script() {
            @Override
            public void beforeComplete() throws IOException {
                throw new IOException("the store refused the last part");
            }
        });
        onlyTheBrokenUploadFails(4, "write-failed", "the store refused the last part");
        assertThat(dir.resolve("4.file")).hasContent("ERROR");
    }

    @Test
    void aSinkThatThrowsWhileAbortingIsLoggedAndTheServerGoesOn() throws Exception {
        start().script(5, new ScriptedSinks.Script() {
            @Override
            public void beforeWrite(ByteBuffer chunk) throws IOException {
                throw new IOException("disk on fire");
            }

            @Override
            public void beforeAbort() {
                throw new UnsupportedOperationException("cannot abort either");
            }
        });
        onlyTheBrokenUploadFails(5, "write-failed", "disk on fire");
        assertThat(server.log()).containsPattern("conn=5 .*marker-failed=\"unexpected failure: "
                + "java.lang.UnsupportedOperationException: cannot abort either\"");
    }
}
