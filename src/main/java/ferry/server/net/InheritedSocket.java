package ferry.server.net;

import ferry.common.Arguments;
import ferry.common.ExitCode;
import ferry.common.UserError;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.SocketAddress;
import java.net.SocketOption;
import java.nio.channels.Channel;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Set;

/**
 * The listening socket that systemd's socket activation hands over, served
 * on instead of a socket of our own. The launcher moves it (descriptor 3,
 * {@code LISTEN_FDS=1}) to the JVM's standard input and sets
 * {@code -Dferry.inheritedSocket=true}; {@link System#inheritedChannel()}
 * then returns it.
 *
 * <p>{@code <PORT>} stays required and must be the socket's port: a check
 * that the service's {@code ExecStart=} and the socket unit's
 * {@code ListenStream=} agree, so that the server never serves another port
 * than its command line says. {@code --listen}, when given, must likewise be
 * the socket's address.
 *
 * <p>The JDK's inherited channel, when closed, also points descriptors 0, 1
 * and 2 at /dev/null (it assumes inetd's way, the socket on all three), which
 * would silence the log from the first step of a stop on. So the server gets
 * this channel instead: non-blocking only, like the server's own listening
 * socket, it accepts from the inherited socket, and the accept loop waits for
 * connections on {@link #listening() the inherited socket itself} (a JDK
 * selector takes only the JDK's channels). Closing this channel stops the
 * accepting; the inherited socket itself is never closed: the process's exit
 * closes it, after the last log line. Meanwhile connections wait in the
 * kernel's queue; under systemd, which keeps the socket, they are the next
 * start's.
 */
public final class InheritedSocket extends ServerSocketChannel {
    /** The system property the launcher sets when standard input is the socket from systemd. */
    public static final String PROPERTY = "ferry.inheritedSocket";

    private final ServerSocketChannel socket;

    private InheritedSocket(ServerSocketChannel socket) throws IOException {
        super(socket.provider());
        this.socket = socket;
        socket.configureBlocking(false);
        configureBlocking(false);
    }

    /** The listening socket from systemd, for a selector to wait on; never to be closed (see the class comment). */
    ServerSocketChannel listening() {
        return socket;
    }

    /**
     * The inherited listening TCP socket, checked against {@code <PORT>} and
     * {@code --listen}: not a listening TCP socket is a failure (exit 1), a
     * different port or address a usage error (exit 2). Nothing is closed on
     * failure (see the class comment): the process is about to exit.
     */
    public static ServerSocketChannel take(int port, InetAddress listen) throws UserError {
        Channel inherited;
        try {
            inherited = System.inheritedChannel();
        } catch (IOException e) {
            throw UserError.failure("cannot use the socket from systemd: " + Arguments.describe(e).toLowerCase());
        }
        if (!(inherited instanceof ServerSocketChannel channel)) {
            throw UserError.failure("socket activation: standard input is not a listening socket ("
                    + (inherited == null ? "not a socket" : "a connected socket")
                    + "); the socket unit needs Accept=no and one ListenStream=");
        }
        try {
            SocketAddress local = channel.getLocalAddress();
            if (!(local instanceof InetSocketAddress address)) {
                throw UserError.failure("socket activation: the socket from systemd is not a TCP socket (" + local
                        + "); the socket unit needs ListenStream=[ADDR:]PORT");
            }
            if (address.getPort() != port) {
                throw new UserError(ExitCode.USAGE, "port " + port + " does not match the socket from systemd, which "
                        + "listens on port " + address.getPort() + ": make <PORT> the socket unit's ListenStream= port");
            }
            if (listen != null && !listen.equals(address.getAddress())) {
                throw new UserError(ExitCode.USAGE, "listen address " + listen.getHostAddress() + " (--listen)"
                        + " does not match the socket from systemd, which listens on "
                        + address.getAddress().getHostAddress() + ": set the address in ListenStream= instead");
            }
            return new InheritedSocket(channel);
        } catch (IOException e) {
            throw UserError.failure("cannot use the socket from systemd: " + Arguments.describe(e).toLowerCase());
        }
    }

    /** A pending connection, or null if there is none (non-blocking, as the server's own socket is). */
    @Override
    public SocketChannel accept() throws IOException {
        if (!isOpen()) {
            throw new ClosedChannelException();
        }
        try {
            return socket.accept();
        } catch (ClosedChannelException e) {
            throw new IOException("the socket from systemd was closed");
        }
    }

    @Override
    protected void implCloseSelectableChannel() {
        // The inherited socket stays open (see the class comment); the accept loop sees this channel closed.
    }

    @Override
    protected void implConfigureBlocking(boolean block) {
        if (block) {
            throw new UnsupportedOperationException("the socket from systemd is served in non-blocking mode only");
        }
    }

    @Override
    public ServerSocketChannel bind(SocketAddress local, int backlog) throws IOException {
        throw new UnsupportedOperationException("the socket from systemd is bound already");
    }

    @Override
    public <T> ServerSocketChannel setOption(SocketOption<T> name, T value) throws IOException {
        socket.setOption(name, value);
        return this;
    }

    @Override
    public <T> T getOption(SocketOption<T> name) throws IOException {
        return socket.getOption(name);
    }

    @Override
    public Set<SocketOption<?>> supportedOptions() {
        return socket.supportedOptions();
    }

    @Override
    public ServerSocket socket() {
        throw new UnsupportedOperationException("the socket from systemd has no ServerSocket view");
    }

    @Override
    public SocketAddress getLocalAddress() throws IOException {
        if (!isOpen()) {
            throw new ClosedChannelException();
        }
        return socket.getLocalAddress();
    }
}
