package ferry.client;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which files are sent with transferTo (sized) and which are read to their end (streamed). */
class SourceTest {
    @TempDir
    Path tmp;

    @Test
    void aRegularFileWithASizeIsSized() throws Exception {
        assertThat(Source.sized(attributes(Files.writeString(tmp.resolve("f"), "x")))).isTrue();
    }

    @Test
    void anEmptyRegularFileIsStreamedLikeAProcFile() throws Exception {
        assertThat(Source.sized(attributes(Files.createFile(tmp.resolve("empty"))))).isFalse();
        assertThat(Source.sized(attributes(Path.of("/proc/self/status")))).isFalse();
    }

    @Test
    void aCharacterDeviceIsStreamed() throws Exception {
        assertThat(Source.sized(attributes(Path.of("/dev/null")))).isFalse();
    }

    @Test
    void unreadableAttributesMeanAStream() {
        assertThat(Source.sized(null)).isFalse();
    }

    private static BasicFileAttributes attributes(Path path) throws Exception {
        return Files.readAttributes(path, BasicFileAttributes.class);
    }
}
