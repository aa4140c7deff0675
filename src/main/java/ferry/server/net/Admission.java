package ferry.server.net;

import ferry.server.report.Journal;
import ferry.server.report.ServerEvents.Refusal;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Decides, on the accept thread, whether an accepted connection becomes an
 * upload: the access rules ({@code --allow}/{@code --deny}), the connections
 * one address may hold ({@code --max-per-peer}) and the free space to keep
 * ({@code --min-free}). A refused connection is reset at once and gets no
 * number and no file. Each refusal by rule or per-peer limit is logged; a
 * stretch of low space is logged once when it starts and once when it ends.
 */
final class Admission {
    private final AccessRules rules;
    private final MinFree minFree;
    /** The connections each address holds, with {@code --max-per-peer}; null without. */
    private final PeerLimit perPeer;
    private final Path directory;
    private final Journal journal;
    /** The file system of FILE-DIR, found on first use (the directory exists only once the server runs). */
    private FileStore store;
    /** True while free space is short: refusals are then not logged one by one. */
    private boolean low;

    Admission(AccessRules rules, MinFree minFree, Path directory, Journal journal) {
        this.rules = rules;
        this.minFree = minFree;
        this.perPeer = rules.maxPerPeer() > 0 ? new PeerLimit(rules.maxPerPeer()) : null;
        this.directory = directory;
        this.journal = journal;
    }

    /** True when nothing is checked: the spec's behaviour. */
    boolean admitsAll() {
        return !rules.restricts() && perPeer == null && minFree == null;
    }

    /** True if the connection may proceed; false if it was refused (the caller resets it). */
    boolean admit(SocketChannel channel, String peer) {
        InetAddress address = address(channel);
        if (rules.restricts()) {
            String refusal = rules.refusal(address);
            if (refusal != null) {
                journal.refused(peer, Refusal.RULE, refusal, true);
                return false;
            }
        }
        // Counted before the free space is read: a connection refused for space after this is closed at once,
        // which gives its place back. One without an address (already gone) is not counted.
        if (perPeer != null && address != null && !perPeer.admit(address, channel)) {
            journal.refused(peer, Refusal.PER_PEER, "already " + perPeer.max() + " connections from "
                    + address.getHostAddress() + " (--max-per-peer " + perPeer.max() + ")", true);
            return false;
        }
        if (minFree != null) {
            String shortage = shortage();
            if (shortage != null) {
                // Counted every time, logged once per stretch (the line below), not once per connection.
                journal.refused(peer, Refusal.FREE_SPACE, shortage, false);
                if (!low) {
                    journal.log().line("free space is short (" + shortage + "): new connections are reset"
                            + " until it is back");
                    low = true;
                }
                return false;
            }
            if (low) {
                journal.log().line("free space is back: serving again");
                low = false;
            }
        }
        return true;
    }

    /** Why there is not enough free space, or null when there is. */
    private String shortage() {
        try {
            if (store == null) {
                store = Files.getFileStore(directory);
            }
            long usable = store.getUsableSpace();
            long required = minFree.required(store);
            if (usable < required) {
                return usable + " bytes free in " + directory + ", below --min-free " + minFree.text()
                        + " (" + required + " bytes)";
            }
            return null;
        } catch (IOException | RuntimeException e) {
            // Space that cannot be measured is not known to be short: the upload's own writes will tell.
            return null;
        }
    }

    private static InetAddress address(SocketChannel channel) {
        try {
            return channel.getRemoteAddress() instanceof InetSocketAddress socket ? socket.getAddress() : null;
        } catch (IOException e) {
            return null;
        }
    }
}
