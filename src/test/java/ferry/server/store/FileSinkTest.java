package ferry.server.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileSinkTest {
    @TempDir
    Path dir;

    @Test
    void createsTheNumberedFileAtOnceAndEmpty() throws Exception {
        UploadSink sink = FileSink.in(dir).open(7);
        assertThat(dir.resolve("7.file")).exists().isEmptyFile();
        sink.complete();
        assertThat(dir.resolve("7.file")).isEmptyFile();
    }

    @Test
    void writesChunksInOrderAsTheyArrive() throws Exception {
        UploadSink sink = FileSink.in(dir).open(1);
        sink.write(ByteBuffer.wrap("hello ".getBytes(StandardCharsets.US_ASCII)));
        assertThat(dir.resolve("1.file")).hasContent("hello ");
        sink.write(ByteBuffer.allocateDirect(5).put("world".getBytes(StandardCharsets.US_ASCII)).flip());
        sink.complete();
        assertThat(dir.resolve("1.file")).hasContent("hello world");
    }

    @Test
    void abortReplacesPartialInputWithExactlyError() throws Exception {
        UploadSink sink = FileSink.in(dir).open(2);
        sink.write(ByteBuffer.wrap(new byte[100_000]));
        sink.abort();
        assertThat(Files.readAllBytes(dir.resolve("2.file"))).isEqualTo("ERROR".getBytes(StandardCharsets.US_ASCII));
    }

    @Test
    void anExistingFileOrLinkIsNeverOpenedTruncatedOrFollowed() throws Exception {
        Files.writeString(dir.resolve("3.file"), "left over from an earlier run");
        assertThatThrownBy(() -> FileSink.in(dir).open(3)).isInstanceOf(java.nio.file.FileAlreadyExistsException.class);
        assertThat(dir.resolve("3.file")).hasContent("left over from an earlier run");

        Path victim = Files.writeString(dir.resolve("thesis.tex"), "precious");
        Files.createSymbolicLink(dir.resolve("4.file"), victim);
        assertThatThrownBy(() -> FileSink.in(dir).open(4)).isInstanceOf(java.io.IOException.class);
        assertThat(victim).hasContent("precious");
    }
}
