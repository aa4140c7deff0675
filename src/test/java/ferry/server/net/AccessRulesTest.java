package ferry.server.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ferry.common.ExitCode;
import ferry.common.UserError;
import java.net.InetAddress;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class AccessRulesTest {
    private static AccessRules rules(String allow, String deny) throws UserError {
        return new AccessRules(allow == null ? List.of() : AccessRules.ranges("--allow", allow),
                deny == null ? List.of() : AccessRules.ranges("--deny", deny));
    }

    /** An address as the JVM reports a peer: an IPv4-mapped IPv6 address with 16 bytes, when asked. */
    private static InetAddress peer(String text) throws Exception {
        return InetAddress.getByName(text);
    }

    private static InetAddress mapped(String v4) throws Exception {
        byte[] b = InetAddress.getByName(v4).getAddress();
        byte[] m = new byte[16];
        m[10] = (byte) 0xff;
        m[11] = (byte) 0xff;
        System.arraycopy(b, 0, m, 12, 4);
        return java.net.Inet6Address.getByAddress(null, m, -1);
    }

    @Test
    void withoutRulesEveryoneMayConnect() throws Exception {
        assertThat(AccessRules.EVERYONE.restricts()).isFalse();
        assertThat(AccessRules.EVERYONE.refusal(peer("203.0.113.9"))).isNull();
    }

    @ParameterizedTest
    @CsvSource({
            "10.0.0.0/8, 10.200.3.4, true",
            "10.0.0.0/8, 11.0.0.1, false",
            "192.0.2.7, 192.0.2.7, true",
            "192.0.2.7, 192.0.2.8, false",
            "192.0.2.128/25, 192.0.2.200, true",
            "192.0.2.128/25, 192.0.2.127, false",
            "0.0.0.0/0, 198.51.100.1, true",
            "2001:db8::/32, 2001:db8:1::5, true",
            "2001:db8::/32, 2001:db9::5, false",
            "::1, ::1, true",
            "::/0, 2001:db8::1, true",
            "::/0, 127.0.0.1, false",
            "'::ffff:10.0.0.0/104', 10.1.2.3, true",
            "'::ffff:10.0.0.0/104', 11.1.2.3, false",
            "'::ffff:10.0.0.0/104', 2001:db8::1, false",
            "'::ffff:0:0/96', 203.0.113.9, true",
            "'::ffff:0:0/96', 2001:db8::1, false",
            "'::ffff:192.0.2.7', 192.0.2.7, true",
            "'::ffff:192.0.2.7', 192.0.2.8, false",
            "'::ffff:192.0.2.7/128', 192.0.2.8, false",
            "'::ffff:192.0.2.0/120', 192.0.2.200, true",
            "'::ffff:192.0.2.0/120', 192.0.3.1, false",
            "'[::1]', ::1, true"})
    void allowRangesAdmitTheirPeersOnly(String range, String address, boolean admitted) throws Exception {
        assertThat(rules(range, null).refusal(peer(address)) == null).as("%s in %s", address, range).isEqualTo(admitted);
    }

    @Test
    void anIpv4MappedPeerMatchesIpv4Ranges() throws Exception {
        assertThat(rules("10.0.0.0/8", null).refusal(mapped("10.9.9.9"))).isNull();
        assertThat(rules(null, "10.0.0.0/8").refusal(mapped("10.9.9.9"))).isEqualTo("denied by 10.0.0.0/8");
    }

    @Test
    void denyWinsOverAllow() throws Exception {
        var rules = rules("10.0.0.0/8", "10.0.0.5,2001:db8::/32");
        assertThat(rules.refusal(peer("10.0.0.5"))).isEqualTo("denied by 10.0.0.5");
        assertThat(rules.refusal(peer("10.0.0.6"))).isNull();
        assertThat(rules.refusal(peer("192.0.2.1"))).isEqualTo("not in any allowed range");
        assertThat(rules.refusal(peer("2001:db8::1"))).isEqualTo("denied by 2001:db8::/32");
    }

    @Test
    void denyAloneAdmitsEveryoneElse() throws Exception {
        var rules = rules(null, "127.0.0.0/8");
        assertThat(rules.refusal(peer("127.0.0.1"))).isNotNull();
        assertThat(rules.refusal(peer("::1"))).isNull();
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "10.0.0.0/33", "::/129", "10.0.0.0/", "example.com", "10.0.0.0/8,,", "1.2.3.4/-1",
            "10.0.0.0/8x", "10.0.0.256", "cafe", "dead.beef", "bad", "10.1", "1.2.3"})
    void aWrongRangeIsAUsageError(String text) {
        assertThatThrownBy(() -> AccessRules.ranges("--allow", text))
                .isInstanceOfSatisfying(UserError.class, e -> {
                    assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE);
                    assertThat(e.line()).startsWith("ERROR: invalid --allow ").doesNotContain("\n");
                });
    }

    /** A mapped range shorter than the mapped block (/96) once widened to 0.0.0.0/0 and admitted every IPv4 peer. */
    @ParameterizedTest
    @ValueSource(strings = {"::ffff:10.0.0.0/8", "::ffff:10.0.0.0/95", "::ffff:0:0/0", "[::ffff:10.0.0.0]/64",
            "0:0:0:0:0:ffff:a00:0/32"})
    void aMappedRangeShorterThan96IsAUsageError(String text) {
        assertThatThrownBy(() -> AccessRules.ranges("--allow", text))
                .isInstanceOfSatisfying(UserError.class, e -> {
                    assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE);
                    assertThat(e.line()).isEqualTo("ERROR: invalid --allow range \"" + text + "\": an IPv4-mapped range"
                            + " needs a prefix of 96-128 (::ffff:10.0.0.0/104 is 10.0.0.0/8)");
                });
    }
}
