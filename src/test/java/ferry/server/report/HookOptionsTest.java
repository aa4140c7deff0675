package ferry.server.report;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ferry.common.UserError;
import org.junit.jupiter.api.Test;

/** {@code --on-upload-env NAME,...} and the names every hook gets. */
class HookOptionsTest {
    @Test
    void namesAreListedOnceEachWithBlanksAroundThemIgnored() throws UserError {
        assertThat(HookOptions.environment("--on-upload-env", "INGEST_URL, http_proxy,_X1,INGEST_URL"))
                .containsExactly("INGEST_URL", "http_proxy", "_X1");
    }

    @Test
    void anythingButAVariablesNameIsAUsageErrorNamingIt() {
        for (String bad : new String[] {"", ",", "A,", "1A", "A B", "A=B", "LC_*", "Ä"}) {
            assertThatThrownBy(() -> HookOptions.environment("FERRY_ON_UPLOAD_ENV", bad)).as(bad)
                    .isInstanceOf(UserError.class).hasMessageStartingWith("invalid FERRY_ON_UPLOAD_ENV \"");
        }
    }

    @Test
    void theAllowListHoldsTheLocaleFamilyButNothingElseByPrefix() {
        assertThat(Hook.allowed("PATH")).isTrue();
        assertThat(Hook.allowed("LC_ALL")).isTrue();
        assertThat(Hook.allowed("LC_TIME")).isTrue();
        assertThat(Hook.allowed("PATHX")).isFalse();
        assertThat(Hook.allowed("AWS_SECRET_ACCESS_KEY")).isFalse();
        assertThat(Hook.allowed("FERRY_COUNTER")).isFalse();
        assertThat(Hook.allowed("PGPASSFILE")).isFalse();
    }
}
