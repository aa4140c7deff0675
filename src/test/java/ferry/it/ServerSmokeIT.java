package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.OutputStream;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The server saves a raw-socket upload to 1.file and exits 0 on SIGTERM. */
class ServerSmokeIT {
    @TempDir
    Path dir;

    @Test
    void savesOneUploadAndStopsOnSigterm() throws Exception {
        byte[] data = Ferry.randomBytes(500, 1);
        try (var server = Ferry.Server.start(dir.resolve("files"))) {
            try (var socket = new Socket("127.0.0.1", server.port)) {
                OutputStream out = socket.getOutputStream();
                out.write(data);
                socket.shutdownOutput();
                assertThat(socket.getInputStream().read()).isEqualTo(-1);
            }
            Ferry.awaitContent(server.file(1), data, Duration.ofSeconds(5));
            server.signal("TERM");
            assertThat(server.awaitExit(Duration.ofSeconds(5))).isZero();
        }
    }
}
