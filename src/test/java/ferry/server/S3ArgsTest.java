package ferry.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ferry.common.ExitCode;
import ferry.common.UserError;
import ferry.server.store.S3Storage;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** FILE-DIR {@code s3://BUCKET/PREFIX} and the S3 options, as text: checked without the SDK. */
class S3ArgsTest {
    @TempDir
    Path tmp;

    @ParameterizedTest
    @CsvSource({
            "s3://ferry-bucket, ferry-bucket, '', ferry-bucket/9.file",
            "s3://ferry-bucket/, ferry-bucket, '', ferry-bucket/9.file",
            "s3://ferry.bucket/in, ferry.bucket, in, ferry.bucket/in/9.file",
            "s3://b12/in/box/, b12, in/box, b12/in/box/9.file",
            "S3://b12/a b, b12, a b, b12/a b/9.file"})
    void anS3UrlNamesTheBucketAndThePrefixOfTheObjects(String url, String bucket, String prefix, String object)
            throws UserError {
        ServerConfig config = ServerArgs.parse(new String[] {"8080", url}, Map.of());
        var s3 = config.service().s3();
        assertThat(s3.bucket()).isEqualTo(bucket);
        assertThat(s3.prefix()).isEqualTo(prefix);
        assertThat(s3.bucket() + "/" + s3.key(9)).isEqualTo(object);
        assertThat(config.directory()).isNull();
        assertThat(s3.partSize()).isEqualTo(8 << 20);
        assertThat(s3.memory()).isEqualTo(160L << 20);
        assertThat(s3.pathStyle()).isFalse();
    }

    @Test
    void partSizeMemoryAndPathStyleAreOptionsAndVariables() throws UserError {
        var flags = ServerArgs.parse(new String[] {"--s3-part-mib", "16", "--s3-memory-mib", "64", "--s3-path-style",
                "8080", "s3://bucket/p"}, Map.of()).service().s3();
        assertThat(flags.partSize()).isEqualTo(16 << 20);
        assertThat(flags.memory()).isEqualTo(64L << 20);
        assertThat(flags.pathStyle()).isTrue();
        var variables = ServerArgs.parse(new String[] {"8080", "s3://bucket/p"},
                Map.of("FERRY_S3_PART_MIB", "5", "FERRY_S3_MEMORY_MIB", "10", "FERRY_S3_PATH_STYLE", "1"))
                .service().s3();
        assertThat(variables.partSize()).isEqualTo(5 << 20);
        assertThat(variables.memory()).isEqualTo(10L << 20);
        assertThat(variables.pathStyle()).isTrue();
        // Parts larger than an eighth of the default budget raise the default budget to two parts.
        var large = ServerArgs.parse(new String[] {"--s3-part-mib", "200", "8080", "s3://bucket/p"}, Map.of())
                .service().s3();
        assertThat(large.memory()).isEqualTo(400L << 20);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "s3://|the bucket must be 3-63 lower-case letters",
            "s3://Upper/p|the bucket must be 3-63 lower-case letters",
            "s3://ab/p|the bucket must be 3-63 lower-case letters",
            "s3://bucket//p|the prefix must not begin with /",
            "s3://bucket/a//b|the prefix must not begin with /"})
    void aBadUrlIsAUsageError(String url, String message) {
        assertThatThrownBy(() -> ServerArgs.parse(new String[] {"8080", url}, Map.of()))
                .isInstanceOfSatisfying(UserError.class, e -> {
                    assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE);
                    assertThat(e.getMessage()).startsWith("invalid FILE-DIR ").contains(message);
                });
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "--s3-part-mib|4|S3 takes parts of 5 MiB or more",
            "--s3-memory-mib|15|must hold at least two parts of 8 MiB",
            "--min-free|1G|applies to a directory",
            "--fsync||applies to a directory"})
    void optionsThatCannotApplyToS3AreUsageErrors(String option, String value, String message) {
        String[] args = value == null ? new String[] {option, "8080", "s3://bucket/p"}
                : new String[] {option, value, "8080", "s3://bucket/p"};
        assertThatThrownBy(() -> ServerArgs.parse(args, Map.of()))
                .isInstanceOfSatisfying(UserError.class, e -> {
                    assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE);
                    assertThat(e.getMessage()).contains(option).contains(message);
                });
    }

    @ParameterizedTest
    @ValueSource(strings = {"--s3-part-mib=8", "--s3-memory-mib=64", "--s3-path-style"})
    void s3OptionsWithADirectoryAreUsageErrors(String option) {
        String[] args = option.contains("=") ? new String[] {option.split("=")[0], option.split("=")[1], "8080",
                tmp.toString()} : new String[] {option, "8080", tmp.toString()};
        assertThatThrownBy(() -> ServerArgs.parse(args, Map.of()))
                .isInstanceOfSatisfying(UserError.class, e -> {
                    assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE);
                    assertThat(e.getMessage()).contains(option.split("=")[0]).contains("s3://BUCKET/PREFIX only");
                });
    }
}
