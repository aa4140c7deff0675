#!/bin/sh
# examples/scale-out/run.sh s3://BUCKET/PREFIX: two ferry receivers on this host
# (ports 9001 and 9002) behind HAProxy (port 9000, haproxy.cfg beside this
# file), saving into one bucket and numbered by one PostgreSQL database.
# Set first (see docs/scaling-out.md):
#   FERRY_COUNTER=postgresql://USER@HOST:5432/DB, and PGPASSFILE naming a file
#   with the line HOST:5432:DB:USER:PASSWORD (mode 0600): no password in a URL
#   AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
#   AWS_ENDPOINT_URL (for a store other than AWS: MinIO, Ceph, Garage, ...)
#   For TLS: FERRY_TLS_CERT and FERRY_TLS_KEY (a certificate naming the
#   balancer); both receivers serve it, and HAProxy passes it through.
# Stops everything on Ctrl-C or SIGTERM.
set -eu
bucket=${1:?usage: run.sh s3://BUCKET/PREFIX}
: "${FERRY_COUNTER:?set FERRY_COUNTER=postgresql://USER@HOST:PORT/DB and PGPASSFILE}"
here=$(cd "$(dirname "$0")" && pwd)
ferry=$here/../..

"$ferry/server" 9001 "$bucket" & a=$!
"$ferry/server" 9002 "$bucket" & b=$!
haproxy -db -f "$here/haproxy.cfg" & h=$!
trap 'kill $h $a $b 2>/dev/null; wait' INT TERM
wait
