package ferry.server.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.CompleteMultipartUploadRequest;
import software.amazon.awssdk.services.s3.model.CompleteMultipartUploadResponse;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.HeadObjectRequest;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;
import software.amazon.awssdk.services.s3.model.PutObjectResponse;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.UploadPartRequest;
import software.amazon.awssdk.services.s3.model.UploadPartResponse;

/**
 * The requests {@link S3Storage} makes for a sink, against an S3 client that
 * answers as the test says: objects are created only if absent, a retry that
 * finds its own object is no failure, another's object is never overwritten,
 * and a failure is one plain line.
 */
@Timeout(30)
class S3StorageTest {
    private static final String KEY = "uploads/1.file";
    private static final String TOKEN = "token-of-this-upload";

    private final FakeS3 s3 = new FakeS3();
    private final S3Storage storage = new S3Storage(
            new S3Options("bucket", "uploads", PartMemory.CHUNK, 2L * PartMemory.CHUNK, true), s3, "http://test");

    @Test
    void aPutCreatesTheObjectOnlyIfAbsentAndMarksItWithTheUploadsToken() throws Exception {
        storage.putObject(KEY, RequestBody.fromString("hello"), TOKEN);

        assertThat(s3.requests).hasSize(1);
        var put = (PutObjectRequest) s3.requests.getFirst();
        assertThat(put.bucket()).isEqualTo("bucket");
        assertThat(put.key()).isEqualTo(KEY);
        assertThat(put.ifNoneMatch()).isEqualTo("*");
        assertThat(put.metadata()).isEqualTo(Map.of(S3Storage.TOKEN, TOKEN));
    }

    @Test
    void aPutThatFindsItsOwnObjectAfterARetrySucceeds() throws Exception {
        s3.putAnswer = () -> {
            throw s3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold");
        };
        s3.headToken = TOKEN;

        storage.putObject(KEY, RequestBody.fromString("hello"), TOKEN);

        assertThat(s3.requests).hasSize(2);
        assertThat(((HeadObjectRequest) s3.requests.get(1)).key()).isEqualTo(KEY);
    }

    @Test
    void aPutThatFindsAnotherUploadsObjectFailsAndOverwritesNothing() {
        s3.putAnswer = () -> {
            throw s3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold");
        };
        s3.headToken = "an earlier run's token";

        assertThatThrownBy(() -> storage.putObject(KEY, RequestBody.fromString("hello"), TOKEN))
                .isInstanceOf(IOException.class)
                .hasMessage("cannot store " + KEY + ": s3://bucket/... already has that object (an earlier run's?),"
                        + " which is never overwritten");
        assertThat(s3.requests).extracting(request -> request.getClass().getSimpleName())
                .as("one put, never a second").containsExactly("PutObjectRequest", "HeadObjectRequest");
    }

    @Test
    void aCompleteRetriedAfterItsFirstAttemptCompletedSucceeds() throws Exception {
        s3.completeAnswer = () -> {
            throw s3Error(404, "NoSuchUpload", "The specified upload does not exist.");
        };
        s3.headToken = TOKEN;
        var parts = List.of(CompletedPart.builder().partNumber(1).eTag("etag-1").build());

        storage.completeMultipartUpload(KEY, "upload-1", parts, TOKEN);

        var complete = (CompleteMultipartUploadRequest) s3.requests.getFirst();
        assertThat(complete.ifNoneMatch()).isEqualTo("*");
        assertThat(complete.uploadId()).isEqualTo("upload-1");
        assertThat(complete.multipartUpload().parts()).isEqualTo(parts);
    }

    /** s3proxy answers a retried complete whose first attempt completed with 400 InvalidPart (seen under load). */
    @Test
    void aCompleteRetriedThatFindsItsPartsGoneAndItsOwnObjectSucceeds() throws Exception {
        s3.completeAnswer = () -> {
            throw s3Error(400, "InvalidPart", "One or more of the specified parts could not be found.");
        };
        s3.headToken = TOKEN;

        storage.completeMultipartUpload(KEY, "upload-1", List.of(), TOKEN);

        s3.headToken = "another upload's token";
        assertThatThrownBy(() -> storage.completeMultipartUpload(KEY, "upload-1", List.of(), TOKEN))
                .isInstanceOf(IOException.class).hasMessageContaining("400 InvalidPart");
    }

    @Test
    void aCompleteThatFindsTheUploadGoneAndAnotherObjectFails() {
        s3.completeAnswer = () -> {
            throw s3Error(404, "NoSuchUpload", "The specified upload does not exist.");
        };
        s3.headToken = "another upload's token";

        assertThatThrownBy(() -> storage.completeMultipartUpload(KEY, "upload-1", List.of(), TOKEN))
                .isInstanceOf(IOException.class)
                .hasMessage("cannot complete " + KEY + ": the store answered 404 NoSuchUpload:"
                        + " The specified upload does not exist.");
    }

    @Test
    void aStoreErrorIsOneLineWithItsStatusCodeAndMessage() {
        s3.partAnswer = () -> {
            throw s3Error(503, "SlowDown", "Please reduce your request rate.");
        };

        assertThatThrownBy(() -> storage.uploadPart(KEY, "upload-1", 3, RequestBody.fromString("x")))
                .isInstanceOf(IOException.class)
                .hasMessage("cannot store part 3 of " + KEY + ": the store answered 503 SlowDown:"
                        + " Please reduce your request rate.");
    }

    @Test
    void aClientFailureWhileInterruptedIsAnInterruption() {
        s3.putAnswer = () -> {
            throw SdkClientException.create("Unable to execute HTTP request: thread interrupted");
        };
        Thread.currentThread().interrupt(); // a stop interrupts a sink call in flight
        try {
            assertThatThrownBy(() -> storage.putObject(KEY, RequestBody.fromString("x"), TOKEN))
                    .isInstanceOf(InterruptedIOException.class)
                    .hasMessage("interrupted while trying to store " + KEY);
        } finally {
            Thread.interrupted();
        }
        s3.putAnswer = () -> {
            throw SdkClientException.create("Unable to execute HTTP request: Connection refused");
        };
        assertThatThrownBy(() -> storage.putObject(KEY, RequestBody.fromString("x"), TOKEN))
                .isNotInstanceOf(InterruptedIOException.class)
                .hasMessage("cannot store " + KEY + ": Unable to execute HTTP request: Connection refused");
    }

    private static S3Exception s3Error(int status, String code, String message) {
        return (S3Exception) S3Exception.builder().statusCode(status).message(message)
                .awsErrorDetails(AwsErrorDetails.builder().errorCode(code).errorMessage(message).build()).build();
    }

    /** What the fake answers: a response, or a thrown SDK exception. */
    @FunctionalInterface
    private interface Answer<T> {
        T get();
    }

    /** An S3 client that keeps every request and answers as the test set it; any other call fails. */
    private static final class FakeS3 implements S3Client {
        final List<Object> requests = new CopyOnWriteArrayList<>();
        volatile Answer<PutObjectResponse> putAnswer = () -> PutObjectResponse.builder().build();
        volatile Answer<CompleteMultipartUploadResponse> completeAnswer =
                () -> CompleteMultipartUploadResponse.builder().build();
        volatile Answer<UploadPartResponse> partAnswer = () -> UploadPartResponse.builder().eTag("etag").build();
        /** The token the existing object carries, for a HEAD. */
        volatile String headToken;

        @Override
        public PutObjectResponse putObject(PutObjectRequest request, RequestBody body) {
            requests.add(request);
            return putAnswer.get();
        }

        @Override
        public CompleteMultipartUploadResponse completeMultipartUpload(CompleteMultipartUploadRequest request) {
            requests.add(request);
            return completeAnswer.get();
        }

        @Override
        public UploadPartResponse uploadPart(UploadPartRequest request, RequestBody body) {
            requests.add(request);
            return partAnswer.get();
        }

        @Override
        public HeadObjectResponse headObject(HeadObjectRequest request) {
            requests.add(request);
            assertThat(headToken).as("a HEAD the test expects").isNotNull();
            return HeadObjectResponse.builder().metadata(Map.of(S3Storage.TOKEN, headToken)).build();
        }

        @Override
        public String serviceName() {
            return "s3";
        }

        @Override
        public void close() {
        }
    }
}
