package ferry.common.tls;

import ferry.common.Arguments;
import ferry.common.UserError;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * The blocks of a PEM file, as openssl, certbot and cert-manager write them:
 * {@code -----BEGIN TYPE-----}, base64, {@code -----END TYPE-----}, with any
 * text between blocks (openssl's "Bag Attributes", comments) ignored.
 */
final class Pem {
    /** Longest PEM file read: 16 MiB, far more than any chain or trust bundle (Debian's is about 220 KB). */
    static final long MAX_SIZE = 16L << 20;

    /**
     * One block.
     *
     * @param type      what BEGIN names: {@code CERTIFICATE}, {@code PRIVATE KEY} ...
     * @param der       the decoded bytes
     * @param encrypted whether its headers say it is encrypted ({@code Proc-Type: 4,ENCRYPTED})
     */
    record Block(String type, byte[] der, boolean encrypted) {
    }

    private Pem() {
    }

    /**
     * Reads the blocks of {@code file}; {@code label} names the option in
     * messages ({@code --cacert}, {@code FERRY_CACERT}).
     */
    static List<Block> read(Path file, String label) throws UserError {
        String text;
        try {
            if (Files.isDirectory(file)) {
                throw UserError.usage(label + " " + quote(file) + " is a directory, not a PEM file");
            }
            if (Files.size(file) > MAX_SIZE) {
                throw UserError.usage(label + " " + quote(file) + " is larger than " + (MAX_SIZE >> 20)
                        + " MiB: not a PEM file");
            }
            text = new String(Files.readAllBytes(file), StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            throw UserError.usage("cannot read " + label + " " + quote(file) + ": " + Arguments.describe(e));
        }
        var blocks = new ArrayList<Block>();
        int at = 0;
        while (true) {
            int begin = text.indexOf("-----BEGIN ", at);
            if (begin < 0) {
                return blocks;
            }
            int typeEnd = text.indexOf("-----", begin + 11);
            if (typeEnd < 0) {
                throw UserError.usage(label + " " + quote(file) + " is not a valid PEM file: a BEGIN line has no end");
            }
            String type = text.substring(begin + 11, typeEnd);
            String endLine = "-----END " + type + "-----";
            int end = text.indexOf(endLine, typeEnd + 5);
            if (end < 0) {
                throw UserError.usage(label + " " + quote(file) + " is not a valid PEM file: no line "
                        + endLine);
            }
            String body = text.substring(typeEnd + 5, end).replace("\r", "");
            boolean encrypted = false;
            if (body.indexOf(':') >= 0) {
                // RFC 1421 headers (Proc-Type: 4,ENCRYPTED and DEK-Info, as openssl writes an encrypted
                // traditional key) end at an empty line; base64 holds no ':'.
                int blank = body.indexOf("\n\n");
                String headers = blank < 0 ? body : body.substring(0, blank);
                encrypted = headers.contains("Proc-Type:") && headers.contains("ENCRYPTED");
                body = blank < 0 ? body : body.substring(blank + 2);
            }
            byte[] der;
            try {
                der = Base64.getMimeDecoder().decode(body.strip());
            } catch (IllegalArgumentException e) {
                throw UserError.usage(label + " " + quote(file) + " is not a valid PEM file: the " + type
                        + " block is not base64");
            }
            blocks.add(new Block(type, der, encrypted));
            at = end + endLine.length();
        }
    }

    static String quote(Path file) {
        return Arguments.quote(file.toString());
    }
}
