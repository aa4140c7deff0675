"""The S3 store of scenario g: s3proxy in a process of its own, and a small S3 client to check its objects.

s3proxy is started as src/test/java/ferry/it/TestS3.java starts it: the test class path
(target/test-classpath.txt, written by `mvn -q -o generate-test-resources`), jclouds' filesystem-nio2
backend on a scratch directory, warnings only. The client signs with AWS Signature Version 4 and
uses nothing but the standard library, so that checking an object depends on none of the peers.
"""
import datetime
import hashlib
import hmac
import http.client
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import xml.etree.ElementTree as ET

ACCESS_KEY = "ferry"
SECRET_KEY = "ferry-secret"
REGION = "us-east-1"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

LOGBACK = """<configuration>
  <appender name="ERR" class="ch.qos.logback.core.ConsoleAppender">
    <target>System.err</target>
    <encoder><pattern>s3proxy %level %logger{20}: %msg%n</pattern></encoder>
  </appender>
  <root level="WARN"><appender-ref ref="ERR"/></root>
</configuration>
"""


class S3Error(Exception):
    pass


class S3Client:
    """Path-style requests to one endpoint, signed with SigV4 (unsigned payloads: bodies here are empty)."""

    def __init__(self, host, port, access=ACCESS_KEY, secret=SECRET_KEY, region=REGION, timeout=120):
        self.host, self.port, self.access, self.secret, self.region = host, port, access, secret, region
        self.timeout = timeout

    def _headers(self, method, path, query):
        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        host = f"{self.host}:{self.port}"
        canonical_query = "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
                                   for k, v in sorted(query.items()))
        headers = {"host": host, "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": amz_date}
        signed = ";".join(sorted(headers))
        canonical = "\n".join([method, urllib.parse.quote(path, safe="/-_.~"), canonical_query,
                               "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)), signed, EMPTY_SHA256])
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = ("AWS4" + self.secret).encode()
        for part in (day, self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.access}/{scope}, SignedHeaders={signed}, "
                                    f"Signature={signature}")
        return canonical_query, headers

    def request(self, method, path, query=None, ok=(200,)):
        """Sends one request; returns the open response (the caller reads it) when its status is in ok."""
        query = query or {}
        canonical_query, headers = self._headers(method, path, query)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        conn.request(method, urllib.parse.quote(path, safe="/-_.~") + ("?" + canonical_query if query else ""),
                     headers=headers)
        response = conn.getresponse()
        if response.status not in ok:
            body = response.read(2000).decode(errors="replace")
            conn.close()
            raise S3Error(f"{method} {path}: HTTP {response.status}: {body}")
        return response

    def _xml(self, method, path, query=None):
        response = self.request(method, path, query)
        try:
            root = ET.fromstring(response.read())
        finally:
            response.close()
        for element in root.iter():  # drop the namespace
            element.tag = element.tag.rsplit("}", 1)[-1]
        return root

    def create_bucket(self, bucket):
        self.request("PUT", f"/{bucket}").close()

    def objects(self, bucket, prefix):
        """Key -> size of every object under prefix (one page: the bench keeps a handful)."""
        root = self._xml("GET", f"/{bucket}", {"list-type": "2", "prefix": prefix})
        return {c.findtext("Key"): int(c.findtext("Size")) for c in root.iter("Contents")}

    def pending_uploads(self, bucket, prefix):
        """Keys of multipart uploads begun and neither completed nor aborted under prefix."""
        root = self._xml("GET", f"/{bucket}", {"uploads": "", "prefix": prefix})
        return [u.findtext("Key") for u in root.iter("Upload")]

    def sha256(self, bucket, key):
        """(size, SHA-256 in hex) of one object, read as a stream."""
        response = self.request("GET", f"/{bucket}/{key}")
        digest, size = hashlib.sha256(), 0
        try:
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                digest.update(chunk)
                size += len(chunk)
        finally:
            response.close()
        return size, digest.hexdigest()

    def delete(self, bucket, key):
        self.request("DELETE", f"/{bucket}/{key}", ok=(200, 204)).close()


def test_class_path(root, java_home, log):
    """The class path s3proxy runs from: the build's target/test-classpath.txt (made here if absent)."""
    path = os.path.join(root, "target", "test-classpath.txt")
    if not os.path.isfile(path):
        log("  target/test-classpath.txt is missing: mvn -q -o generate-test-resources")
        env = dict(os.environ, JAVA_HOME=java_home)
        proc = subprocess.run(["mvn", "-q", "-o", "generate-test-resources"], cwd=root, env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=600)
        if proc.returncode != 0 or not os.path.isfile(path):
            raise S3Error(f"mvn generate-test-resources failed (exit {proc.returncode}): {proc.stdout[-500:]}")
    with open(path) as f:
        return f.read().strip()


class S3Proxy:
    """s3proxy on a free port of 127.0.0.1, storing under directory (deleted by stop())."""

    def __init__(self, root, java_home, directory, port, log):
        self.root, self.java_home, self.dir, self.port, self.log = root, java_home, directory, port, log
        self.proc = None
        self.client = S3Client("127.0.0.1", port)

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def env(self):
        """The standard AWS variables for an S3 client pointed at this store."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY}

    def start(self, bucket, deadline=60):
        class_path = test_class_path(self.root, self.java_home, self.log)
        data = os.path.join(self.dir, "data")
        os.makedirs(data)
        conf = os.path.join(self.dir, "s3proxy.conf")
        with open(conf, "w") as f:
            f.write("\n".join([f"s3proxy.endpoint={self.endpoint}", "s3proxy.authorization=aws-v2-or-v4",
                               f"s3proxy.identity={ACCESS_KEY}", f"s3proxy.credential={SECRET_KEY}",
                               "jclouds.provider=filesystem-nio2", f"jclouds.filesystem.basedir={data}", ""]))
        logback = os.path.join(self.dir, "logback.xml")
        with open(logback, "w") as f:
            f.write(LOGBACK)
        self.err_path = os.path.join(self.dir, "err.log")
        # The JVM's arguments in an argument file (java @FILE), so that its command line names no s3proxy: on a
        # machine shared with test runs, something outside the bench killed the store twice mid-run (a kill
        # by name, it seems: `pkill -f s3proxy`).
        arguments = os.path.join(self.dir, "java-arguments")
        with open(arguments, "w") as f:
            f.write("\n".join(["-Xmx512m", "-XX:+UseSerialGC", f"-Dlogback.configurationFile={logback}",
                               "-cp", os.path.join(self.root, "target", "test-classes") + ":" + class_path,
                               "org.gaul.s3proxy.Main", "--properties", conf, ""]))
        with open(os.path.join(self.dir, "out.log"), "wb") as out, open(self.err_path, "ab") as err:
            self.proc = subprocess.Popen([os.path.join(self.java_home, "bin", "java"), f"@{arguments}"],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
        end = time.monotonic() + deadline
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None:
                    raise S3Error(f"s3proxy exited {self.proc.returncode}: {self.tail()}")
                if time.monotonic() > end:
                    raise S3Error(f"s3proxy did not listen within {deadline} s: {self.tail()}")
                time.sleep(0.05)
        self.client.create_bucket(bucket)

    def tail(self):
        try:
            with open(self.err_path, errors="replace") as f:
                return " | ".join(f.read().strip().splitlines()[-3:])
        except OSError:
            return ""

    def check_alive(self):
        if self.proc.poll() is not None:
            raise S3Error(f"s3proxy died (exit {self.proc.returncode}): {self.tail()}")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
