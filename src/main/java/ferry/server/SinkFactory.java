package ferry.server;

import java.io.IOException;

/** Opens the sink for connection number {@code n}. */
@FunctionalInterface
interface SinkFactory {
    UploadSink open(long n) throws IOException;
}
