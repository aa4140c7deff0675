package ferry.server.report;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The stderr tail a hook's log line keeps: its last 1 KiB, as whole characters. */
class HookTailTest {
    private static Hook.Tail tail(String... chunks) {
        var tail = new Hook.Tail();
        for (String chunk : chunks) {
            byte[] bytes = chunk.getBytes(StandardCharsets.UTF_8);
            tail.add(bytes, bytes.length);
        }
        return tail;
    }

    @Test
    void keepsShortOutputWholeWithoutTrailingBlanks() {
        assertThat(tail("first\n", "second\n\n").text()).isEqualTo("first\nsecond");
        assertThat(tail().text()).isEmpty();
    }

    @Test
    void keepsTheLastKibibyteAcrossChunksAndMarksTheCut() {
        String text = tail("a".repeat(1000), "b".repeat(100), "c".repeat(20)).text();
        assertThat(text).isEqualTo("..." + "a".repeat(1024 - 120) + "b".repeat(100) + "c".repeat(20));
    }

    @Test
    void keepsTheEndOfAChunkLargerThanTheRing() {
        assertThat(tail("x", "y".repeat(5000) + "end").text()).isEqualTo("..." + "y".repeat(1021) + "end");
    }

    @Test
    void startsAtAWholeCharacterWhenTheCutSplitsOne() {
        // 1023 ASCII bytes after a 3-byte character: the ring keeps its last byte only.
        String text = tail("€" + "z".repeat(1023)).text();
        assertThat(text).isEqualTo("..." + "z".repeat(1023));
    }

    @Test
    void replacesMalformedBytes() {
        var tail = new Hook.Tail();
        tail.add(new byte[] {'o', 'k', (byte) 0xff}, 3);
        assertThat(tail.text()).isEqualTo("ok\uFFFD");
    }
}
