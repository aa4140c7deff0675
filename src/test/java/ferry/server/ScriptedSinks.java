package ferry.server;

import ferry.server.store.SinkFactory;
import ferry.server.store.UploadSink;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Files as usual ({@link FileSink}), except that the sink of a chosen
 * connection number runs a script before each call: to be slow, to throw, to
 * hang. For in-process tests of how the server contains a sink's trouble.
 */
final class ScriptedSinks implements SinkFactory {
    /** What to do before each call of one connection's sink; each step may sleep or throw. */
    interface Script {
        default void beforeOpen() throws IOException {
        }

        default void beforeWrite(ByteBuffer chunk) throws IOException {
        }

        default void beforeComplete() throws IOException {
        }

        default void beforeAbort() throws IOException {
        }
    }

    private static final Script PLAIN = new Script() {
    };

    private final SinkFactory files;
    private final Map<Long, Script> scripts = new ConcurrentHashMap<>();

    ScriptedSinks(SinkFactory files) {
        this.files = files;
    }

    /** Connection {@code number}'s sink follows {@code script}. */
    ScriptedSinks script(long number, Script script) {
        scripts.put(number, script);
        return this;
    }

    /** Sleeps, as a slow store would; an interrupt (the server stopping) ends the sleep with an I/O error. */
    static void pause(long millis) throws IOException {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted");
        }
    }

    @Override
    public UploadSink open(long number) throws IOException {
        Script script = scripts.getOrDefault(number, PLAIN);
        script.beforeOpen();
        UploadSink file = files.open(number);
        return new UploadSink() {
            @Override
            public void write(ByteBuffer chunk) throws IOException {
                script.beforeWrite(chunk);
                file.write(chunk);
            }

            @Override
            public void complete() throws IOException {
                script.beforeComplete();
                file.complete();
            }

            @Override
            public void abort() throws IOException {
                script.beforeAbort();
                file.abort();
            }
        };
    }

    @Override
    public String locate(long number) {
        return files.locate(number);
    }

    @Override
    public void markError(long number) throws IOException {
        files.markError(number);
    }
}
