package ferry.server.net;

import ferry.common.Arguments;
import ferry.common.UserError;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;

/**
 * Who may connect, as ncat's {@code --allow}/{@code --deny} and ucspi-tcp's
 * rules: a peer in a deny range is refused; otherwise, when allow ranges are
 * given, a peer outside all of them is refused. IPv4 peers reaching an IPv6
 * socket as IPv4-mapped addresses ({@code ::ffff:192.0.2.1}) match IPv4
 * ranges, and a mapped range matches IPv4 peers: {@code ::ffff:10.0.0.0/104}
 * is {@code 10.0.0.0/8}. A mapped range shorter than /96 is refused, since it
 * reaches beyond the mapped block (cut to IPv4 it would admit every IPv4 peer).
 */
public final class AccessRules {
    /** No rules: everyone may connect (the spec's behaviour). */
    public static final AccessRules EVERYONE = new AccessRules(List.of(), List.of());

    private final List<Range> allow;
    private final List<Range> deny;
    /** {@code --max-per-peer}: connections one address may hold at once, or 0 for no limit (the default). */
    private final int maxPerPeer;

    public AccessRules(List<Range> allow, List<Range> deny) {
        this(allow, deny, 0);
    }

    private AccessRules(List<Range> allow, List<Range> deny, int maxPerPeer) {
        this.allow = List.copyOf(allow);
        this.deny = List.copyOf(deny);
        this.maxPerPeer = maxPerPeer;
    }

    /** These rules, and at most {@code max} connections at once from one address (0: no limit). */
    public AccessRules withMaxPerPeer(int max) {
        if (max < 0) {
            throw new IllegalArgumentException("max " + max);
        }
        return new AccessRules(allow, deny, max);
    }

    /** Connections one address may hold at once, or 0 for no limit. */
    public int maxPerPeer() {
        return maxPerPeer;
    }

    /** True when an address range is given ({@code --allow}, {@code --deny}). */
    public boolean restricts() {
        return !allow.isEmpty() || !deny.isEmpty();
    }

    /** Why {@code peer} is refused, or null when it may connect. */
    public String refusal(InetAddress peer) {
        if (peer == null) {
            return restricts() ? "no peer address" : null;
        }
        byte[] address = canonical(peer);
        for (Range range : deny) {
            if (range.contains(address)) {
                return "denied by " + range;
            }
        }
        if (!allow.isEmpty() && allow.stream().noneMatch(range -> range.contains(address))) {
            return "not in any allowed range";
        }
        return null;
    }

    /**
     * Parses a comma-separated list of addresses and CIDR ranges
     * ({@code 10.0.0.0/8,2001:db8::/32,192.0.2.7}); {@code label} names the
     * option in messages.
     */
    public static List<Range> ranges(String label, String text) throws UserError {
        var ranges = new ArrayList<Range>();
        for (String part : text.split(",", -1)) {
            String item = part.strip();
            if (item.isEmpty()) {
                throw UserError.usage("invalid " + label + " " + Arguments.quote(text)
                        + ": must be addresses or CIDR ranges separated by commas, e.g. 10.0.0.0/8,2001:db8::/32");
            }
            ranges.add(Range.parse(label, item));
        }
        return ranges;
    }

    /** IPv4 as 4 bytes, IPv4-mapped IPv6 as its IPv4 address, other IPv6 as 16 bytes. */
    private static byte[] canonical(InetAddress address) {
        byte[] bytes = address.getAddress();
        if (address instanceof Inet6Address && isMapped(bytes)) {
            byte[] v4 = new byte[4];
            System.arraycopy(bytes, 12, v4, 0, 4);
            return v4;
        }
        return bytes;
    }

    private static boolean isMapped(byte[] bytes) {
        if (bytes.length != 16) {
            return false;
        }
        for (int i = 0; i < 10; i++) {
            if (bytes[i] != 0) {
                return false;
            }
        }
        return bytes[10] == (byte) 0xff && bytes[11] == (byte) 0xff;
    }

    /** One address range: a network address (its host bits cleared) and a prefix length. */
    record Range(byte[] network, int prefix, String text) {
        static Range parse(String label, String item) throws UserError {
            int slash = item.indexOf('/');
            String host = slash < 0 ? item : item.substring(0, slash);
            String bad = "invalid " + label + " range " + Arguments.quote(item);
            if (host.startsWith("[") && host.endsWith("]")) {
                host = host.substring(1, host.length() - 1);
            }
            // Literals only: a name here would be looked up, which a rule must never depend on.
            // An IPv6 literal has a colon, an IPv4 one four decimal parts; anything else would be a name.
            boolean literal = host.contains(":")
                    ? host.chars().allMatch(c -> Character.digit(c, 16) >= 0 || c == '.' || c == ':')
                    : host.matches("[0-9]{1,3}(\\.[0-9]{1,3}){3}");
            if (!literal) {
                throw UserError.usage(bad + ": must be an IPv4 or IPv6 address, optionally with /PREFIX");
            }
            InetAddress address;
            try {
                address = InetAddress.getByName(host);
            } catch (UnknownHostException e) {
                throw UserError.usage(bad + ": must be an IPv4 or IPv6 address, optionally with /PREFIX");
            }
            byte[] raw = address.getAddress();
            // An IPv4-mapped literal (::ffff:10.0.0.0): the JDK returns its IPv4 address, and so does canonical().
            boolean mapped = host.contains(":") && (raw.length == 4 || isMapped(raw));
            int bits = host.contains(":") ? 128 : 32;
            int prefix = bits;
            if (slash >= 0) {
                String digits = item.substring(slash + 1);
                if (digits.isEmpty() || digits.length() > 3 || !digits.chars().allMatch(Character::isDigit)
                        || Integer.parseInt(digits) > bits) {
                    throw UserError.usage(bad + ": the prefix must be 0-" + bits);
                }
                prefix = Integer.parseInt(digits);
            }
            if (mapped) {
                // Its IPv4 part: ::ffff:10.0.0.0/104 is 10.0.0.0/8. A prefix shorter than the mapped block's
                // 96 bits reaches outside it, and cut to IPv4 it would widen to every IPv4 address.
                if (prefix < 96) {
                    throw UserError.usage(bad + ": an IPv4-mapped range needs a prefix of 96-128"
                            + " (::ffff:10.0.0.0/104 is 10.0.0.0/8)");
                }
                prefix -= 96;
            }
            byte[] network = canonical(address);
            return new Range(mask(network, prefix), prefix, item);
        }

        boolean contains(byte[] address) {
            return address.length == network.length && java.util.Arrays.equals(mask(address, prefix), network);
        }

        private static byte[] mask(byte[] address, int prefix) {
            byte[] masked = address.clone();
            for (int i = 0; i < masked.length; i++) {
                int keep = Math.max(0, Math.min(8, prefix - i * 8));
                masked[i] &= (byte) (keep == 0 ? 0 : 0xff << (8 - keep));
            }
            return masked;
        }

        @Override
        public String toString() {
            return text;
        }
    }
}
