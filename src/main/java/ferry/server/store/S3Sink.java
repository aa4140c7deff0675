package ferry.server.store;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.model.CompletedPart;

/**
 * One upload into the object {@code PREFIX/N.file}, streamed as its bytes
 * arrive.
 *
 * <p>The bytes fill a part in chunks of the server's {@link PartMemory}. When
 * the budget has no chunk to spare, the part moves to a file of the
 * {@link Spool} (its chunks written out and given back) and the rest of it is
 * written there: {@link #write} never waits for memory. The next part begins
 * in memory again. A part's file is deleted once the part is stored or the
 * upload ends. An
 * upload that ends within its first part is one {@code PutObject}; a longer
 * one becomes a multipart upload, begun when its first part is full, each
 * full part stored by a virtual thread of its own while the next one fills,
 * at most {@link #PARTS_IN_FLIGHT} at once. When the upload has that many
 * parts in flight, {@link #write} waits: the server then stops reading this
 * upload's socket, and TCP slows its sender down, no other.
 *
 * <p>Either way the object appears only when complete, created with
 * {@code If-None-Match: *}, so an object already there is never overwritten.
 * A failed upload's multipart upload is aborted (S3 then drops its parts) and
 * the object created holding exactly {@code ERROR}.
 */
final class S3Sink implements UploadSink {
    /** Parts one upload has in flight at most; more wait (the upload stops reading its socket meanwhile). */
    static final int PARTS_IN_FLIGHT = 4;
    private static final byte[] ERROR_MARKER = FileSink.ERROR_MARKER;
    /** The most parts one multipart upload may have (S3's limit). */
    private static final int MAX_PARTS = 10_000;
    /** How long an abort waits in all, after it has aborted, for its parts in flight to give up once interrupted. */
    private static final long PART_STOP_SECONDS = 10;
    /** Bytes of a chunk written to a spool file at once. */
    private static final int SPOOL_SLICE = 64 << 10;

    private final ObjectStore storage;
    private final String key;
    /** Marks the objects this upload writes, so that a retried request knows its own (the store keeps it with the object). */
    private final String token = UUID.randomUUID().toString();
    private final PartMemory memory;
    private final int partSize;

    /** The chunks of the part being filled, while it is in memory. */
    private List<byte[]> filling = new ArrayList<>();
    private byte[] current;
    private int offset;
    private int partBytes;
    /** The part being filled once it is spooled (its chunks then given back), else null. */
    private Path spooled;
    private FileChannel spooling;

    /** Null until the first part is full. */
    private String uploadId;
    private int parts;
    private final Deque<Part> inFlight = new ArrayDeque<>();
    private final List<CompletedPart> stored = new ArrayList<>();

    S3Sink(ObjectStore storage, String key) {
        this.storage = storage;
        this.key = key;
        this.memory = storage.memory();
        this.partSize = memory.partSize();
    }

    @Override
    public void write(ByteBuffer chunk) throws IOException {
        collectStored();
        while (chunk.hasRemaining()) {
            if (spooling != null) {
                int n = Math.min(chunk.remaining(), partSize - partBytes);
                writeFully(chunk.slice(chunk.position(), n));
                chunk.position(chunk.position() + n);
                partBytes += n;
            } else {
                if (current == null || offset == PartMemory.CHUNK) {
                    byte[] next = memory.tryChunk();
                    if (next == null) {
                        spool();
                        continue;
                    }
                    current = next;
                    filling.add(current);
                    offset = 0;
                }
                int n = Math.min(chunk.remaining(), PartMemory.CHUNK - offset);
                chunk.get(current, offset, n);
                offset += n;
                partBytes += n;
            }
            if (partBytes == partSize) {
                sendPart();
            }
        }
    }

    /** Moves the part being filled to a new spool file, and gives its chunks back. */
    private void spool() throws IOException {
        Path[] file = new Path[1];
        try {
            spooling = memory.spool().create(file);
        } catch (IOException e) {
            throw new IOException("part memory is short and no spool file can be created in "
                    + memory.spool().directory() + ": " + e.getMessage(), e);
        }
        spooled = file[0];
        int left = partBytes;
        for (byte[] bytes : filling) {
            // In slices, so that the JDK's temporary direct buffer for a heap buffer stays small.
            for (int at = 0; at < Math.min(left, PartMemory.CHUNK); at += SPOOL_SLICE) {
                writeFully(ByteBuffer.wrap(bytes, at, Math.min(SPOOL_SLICE, Math.min(left, PartMemory.CHUNK) - at)));
            }
            left -= Math.min(left, PartMemory.CHUNK);
        }
        memory.release(filling);
        filling = new ArrayList<>();
        current = null;
    }

    private void writeFully(ByteBuffer bytes) throws IOException {
        try {
            while (bytes.hasRemaining()) {
                spooling.write(bytes);
            }
        } catch (ClosedByInterruptException e) {
            throw e;
        } catch (IOException e) {
            throw new IOException("cannot write the spool file " + spooled + ": " + e.getMessage(), e);
        }
    }

    /** The part being filled as a finished body: its chunks, or its spool file (closed); the filling starts anew. */
    private Body takePart() throws IOException {
        Body body;
        if (spooling != null) {
            spooling.close();
            body = new Body(null, spooled, partBytes);
            spooling = null;
            spooled = null;
        } else {
            body = new Body(filling, null, partBytes);
            filling = new ArrayList<>();
        }
        current = null;
        partBytes = 0;
        return body;
    }

    /** The bytes of one part, in chunks of the budget or in a spool file. */
    private record Body(List<byte[]> chunks, Path file, int length) {
        RequestBody request() {
            return file != null ? RequestBody.fromContentProvider(() -> {
                try {
                    return Files.newInputStream(file);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }, length, "application/octet-stream") : body(chunks, length);
        }

        /** Gives the chunks back, or deletes the file. */
        void free(PartMemory memory) {
            if (file != null) {
                try {
                    Files.deleteIfExists(file);
                } catch (IOException e) {
                    // Its directory is removed at the next start.
                }
            } else {
                memory.release(chunks);
            }
        }
    }

    /** Drops the part being filled: its chunks go back, its spool file is deleted. */
    private void dropFilling() {
        if (spooling != null) {
            try {
                spooling.close();
            } catch (IOException e) {
                // Deleted below all the same.
            }
            spooling = null;
        }
        if (spooled != null) {
            new Body(null, spooled, 0).free(memory);
            spooled = null;
        }
        memory.release(filling);
        filling = new ArrayList<>();
        current = null;
        partBytes = 0;
    }

    /** Hands the full (or last) part to a thread of its own, once fewer than the maximum are in flight. */
    private void sendPart() throws IOException {
        if (parts == MAX_PARTS) {
            throw new IOException("more than " + MAX_PARTS + " parts of " + (partSize >> 20)
                    + " MiB, the most one S3 object holds: a larger --s3-part-mib takes larger uploads");
        }
        if (uploadId == null) {
            uploadId = storage.createMultipartUpload(key, token);
        }
        while (inFlight.size() >= PARTS_IN_FLIGHT) {
            awaitStored(inFlight.peekFirst());
        }
        memory.awaitStoreTurn();
        Part part;
        try {
            part = new Part(++parts, takePart());
            inFlight.addLast(part);
        } catch (IOException | RuntimeException e) {
            memory.endStoreTurn();
            throw e;
        }
        part.thread = Thread.ofVirtual().name("s3-" + key + "-part-" + part.number).start(part);
    }

    /** Takes in the parts stored so far, without waiting; a part that failed fails the upload now. */
    private void collectStored() throws IOException {
        while (!inFlight.isEmpty() && inFlight.peekFirst().done.getCount() == 0) {
            awaitStored(inFlight.peekFirst());
        }
    }

    private void awaitStored(Part part) throws IOException {
        try {
            part.done.await();
        } catch (InterruptedException e) {
            throw new InterruptedIOException("interrupted while waiting for part " + part.number + " to be stored");
        }
        inFlight.remove(part);
        if (part.failure != null) {
            throw part.failure;
        }
        stored.add(CompletedPart.builder().partNumber(part.number).eTag(part.etag).build());
    }

    @Override
    public void complete() throws IOException {
        if (uploadId == null) {
            // Within one part: a single request, nothing to abort if it fails.
            Body body = takePart();
            try {
                storage.putObject(key, body.request(), token);
            } finally {
                body.free(memory);
            }
            return;
        }
        if (partBytes > 0) {
            sendPart(); // the last part, which may be smaller than the others
        }
        while (!inFlight.isEmpty()) {
            awaitStored(inFlight.peekFirst());
        }
        stored.sort(Comparator.comparing(CompletedPart::partNumber));
        storage.completeMultipartUpload(key, uploadId, stored, token);
    }

    /**
     * Fails the upload: every part in flight is interrupted (a part thread is
     * virtual, so its socket closes at once) and not waited for, the multipart
     * upload is aborted on a thread of its own while the {@code ERROR} object
     * is created on this one, so the two requests take the time of one (a
     * stop's grace is 3 s, and every upload aborts on its own worker at the
     * same time). A part that was still in flight and was stored all the same
     * may have landed after the abort: the abort is then made once more, as S3
     * asks, so that none of its parts stays billed.
     */
    @Override
    public void abort() throws IOException {
        List<Part> running = new ArrayList<>(inFlight);
        inFlight.clear();
        for (Part part : running) {
            part.thread.interrupt();
        }
        dropFilling();
        Thread.interrupted(); // the marker matters more than an interrupt meant for a part
        var abortFailure = new IOException[1];
        Thread aborting = uploadId == null ? null
                : Thread.ofVirtual().name("s3-" + key + "-abort").start(() -> abortFailure[0] = abortUpload(running));
        IOException failure = null;
        try {
            storage.putObject(key, RequestBody.fromBytes(ERROR_MARKER), token + "-error");
        } catch (IOException e) {
            failure = e;
        }
        if (aborting != null) {
            try {
                aborting.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (abortFailure[0] != null) {
                IOException left = new IOException(abortFailure[0].getMessage() + " (its parts stay in the bucket"
                        + " until a lifecycle rule for incomplete multipart uploads removes them, or the next start)");
                if (failure == null) {
                    failure = left;
                } else {
                    failure = new IOException(failure.getMessage() + "; " + left.getMessage(), failure);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    /** Aborts the multipart upload, and once more if a part in flight meanwhile was stored; the failure, or null. */
    private IOException abortUpload(List<Part> running) {
        try {
            storage.abortMultipartUpload(key, uploadId);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(PART_STOP_SECONDS);
            for (Part part : running) {
                // Interrupted already: ends as soon as its socket is closed, or its store answers.
                if (part.done.await(deadline - System.nanoTime(), TimeUnit.NANOSECONDS) && part.etag != null) {
                    try {
                        storage.abortMultipartUpload(key, uploadId);
                    } catch (S3Storage.NoSuchUpload gone) {
                        // Gone with its parts: what the first abort did.
                    }
                    break;
                }
            }
            return null;
        } catch (IOException e) {
            return e;
        } catch (InterruptedException e) {
            return new java.io.InterruptedIOException("interrupted while aborting the multipart upload of " + key);
        }
    }

    /** One full part, stored by a virtual thread of its own; its chunks go back to the budget when it ends. */
    private final class Part implements Runnable {
        final int number;
        final Body body;
        final CountDownLatch done = new CountDownLatch(1);
        Thread thread;
        volatile String etag;
        volatile IOException failure;

        Part(int number, Body body) {
            this.number = number;
            this.body = body;
        }

        @Override
        public void run() {
            try {
                etag = storage.uploadPart(key, uploadId, number, body.request());
            } catch (IOException e) {
                failure = e;
            } catch (UncheckedIOException e) {
                failure = new IOException("cannot store part " + number + " of " + key + ": cannot read its spool"
                        + " file: " + e.getCause().getMessage(), e.getCause());
            } catch (RuntimeException e) {
                failure = new IOException("cannot store part " + number + " of " + key + ": " + e, e);
            } finally {
                memory.endStoreTurn();
                body.free(memory);
                done.countDown();
            }
        }
    }

    /** A body that streams {@code length} bytes from {@code chunks}, as often as the SDK asks (signing, retries). */
    private static RequestBody body(List<byte[]> chunks, long length) {
        return RequestBody.fromContentProvider(() -> new ChunksStream(chunks, length), length,
                "application/octet-stream");
    }

    /** An input stream over the first {@code length} bytes of whole chunks, without copying them. */
    private static final class ChunksStream extends InputStream {
        private final List<byte[]> chunks;
        private final long length;
        private long position;

        ChunksStream(List<byte[]> chunks, long length) {
            this.chunks = chunks;
            this.length = length;
        }

        @Override
        public int read() {
            if (position >= length) {
                return -1;
            }
            int value = chunks.get((int) (position / PartMemory.CHUNK))[(int) (position % PartMemory.CHUNK)] & 0xff;
            position++;
            return value;
        }

        @Override
        public int read(byte[] into, int offset, int count) {
            if (count == 0) {
                return 0;
            }
            if (position >= length) {
                return -1;
            }
            int inChunk = (int) (position % PartMemory.CHUNK);
            int n = (int) Math.min(Math.min(count, PartMemory.CHUNK - inChunk), length - position);
            System.arraycopy(chunks.get((int) (position / PartMemory.CHUNK)), inChunk, into, offset, n);
            position += n;
            return n;
        }

        @Override
        public int available() {
            return (int) Math.min(Integer.MAX_VALUE, length - position);
        }
    }
}
