import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The least a Java sender can do: read the file, connect (blocking), write,
 * half-close, read until the receiver closes. No time limits, no error
 * messages. Scenario b's reference for what the JDK's own networking costs a
 * short run, beside an empty main (bench/README.md).
 */
public class MinimalSender {
    public static void main(String[] args) throws Exception {
        ByteBuffer data = ByteBuffer.wrap(Files.readAllBytes(Path.of(args[2])));
        var address = new InetSocketAddress(InetAddress.getByName(args[0]), Integer.parseInt(args[1]));
        try (SocketChannel channel = SocketChannel.open(address)) {
            while (data.hasRemaining()) {
                channel.write(data);
            }
            channel.shutdownOutput();
            ByteBuffer discard = ByteBuffer.allocate(512);
            while (channel.read(discard.clear()) >= 0) {
                // until the receiver closes
            }
        }
    }
}
