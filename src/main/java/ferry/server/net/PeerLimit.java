package ferry.server.net;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code --max-per-peer N}: the connections each peer address holds, so that
 * one address never holds more than N at once.
 *
 * <p>A connection is held from its admission until its socket is closed,
 * whatever ends it: a complete upload, a reset, an idle timeout, a limit, a
 * stop, or a refusal after admission. The table keeps the channels it
 * admitted and counts those still open, so there is no slot to give back,
 * and none can leak on a path that forgets to. Every ending closes the
 * socket (the event loop alone closes an upload's, the accept thread a
 * connection it did not hand over), before the sender can see that end.
 *
 * <p>Used by the accept thread only. Memory: per address, at most N
 * channels; addresses whose connections have all closed are swept once the
 * table has grown to twice its size after the last sweep, so it stays within
 * a small multiple of the addresses that hold connections.
 */
final class PeerLimit {
    /** The table is swept when it reaches this many addresses (or twice the last sweep's survivors). */
    private static final int FIRST_SWEEP = 64;

    private final int max;
    private final Map<InetAddress, List<SocketChannel>> held = new HashMap<>();
    private int sweepAt = FIRST_SWEEP;

    /** A table allowing {@code max} (1 or more) connections per address. */
    PeerLimit(int max) {
        if (max < 1) {
            throw new IllegalArgumentException("max " + max);
        }
        this.max = max;
    }

    int max() {
        return max;
    }

    /**
     * Counts {@code channel} against {@code peer} and returns true, or returns
     * false (counting nothing) when {@code peer} already holds the maximum.
     */
    boolean admit(InetAddress peer, SocketChannel channel) {
        InetAddress key = key(peer);
        List<SocketChannel> open = held.computeIfAbsent(key, k -> new ArrayList<>(Math.min(max, 4)));
        open.removeIf(c -> !c.isOpen());
        if (open.size() >= max) {
            return false;
        }
        open.add(channel);
        if (held.size() >= sweepAt) {
            sweep();
        }
        return true;
    }

    /** The connections {@code peer} holds now. */
    int held(InetAddress peer) {
        List<SocketChannel> open = held.get(key(peer));
        if (open == null) {
            return 0;
        }
        open.removeIf(c -> !c.isOpen());
        return open.size();
    }

    /** The addresses in the table, those with no open connection left included until the next sweep. */
    int addresses() {
        return held.size();
    }

    private void sweep() {
        held.values().removeIf(open -> {
            open.removeIf(c -> !c.isOpen());
            return open.isEmpty();
        });
        sweepAt = Math.max(FIRST_SWEEP, 2 * held.size());
    }

    /** One key per peer: an IPv4-mapped address is its IPv4 address, and an IPv6 scope is dropped. */
    private static InetAddress key(InetAddress address) {
        try {
            return InetAddress.getByAddress(address.getAddress());
        } catch (UnknownHostException e) {
            throw new IllegalStateException("an address of 4 or 16 bytes is always valid", e);
        }
    }
}
