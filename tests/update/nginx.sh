# A test web server for the update tests: nginx on 127.0.0.1 with TLS, using
# a CA and server certificate made here with openssl. Source it after
# tests/e2e/lib.sh (it works in $CS_TMP).
#
#   nginx_start DOCROOT [CONF]  serve DOCROOT; CONF is extra text for the
#                               server blocks (for example "limit_rate 20k;")
#   nginx_stop                  stop the server (kill -9 with nginx_kill)
#   nginx_count REGEX           requests in the access log matching REGEX
#   nginx_clear_log             empty the access log
#
# After nginx_start:
#   NGINX_URL             https://127.0.0.1:PORT serving DOCROOT
#   NGINX_HTTP_URL        the same folder over plain http on another port
#   NGINX_WRONG_NAME_URL  https on a third port, with a certificate for
#                         another host name
#   NGINX_CA              the CA that signed both server certificates
#   NGINX_OTHER_CA        a CA that signed nothing the server uses
#   NGINX_LOG             the access log: method, path, status, bytes sent
#                         and Range header, one request per line

NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
NGINX_DIR="$CS_TMP/nginx"
NGINX_PID=

# No proxy may carry the tests' traffic off this machine.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export no_proxy='*'

nginx_require() {
    if [ ! -x "$NGINX" ]; then
        echo "1..0 # SKIP nginx is not installed (scripts/deps.sh installs nginx-light)"
        exit 0
    fi
}

# Make the test CAs and certificates once per test.
nginx_make_pki() {
    local pki=$NGINX_DIR/pki
    [ -f "$pki/server.pem" ] && return 0
    mkdir -p "$pki"
    (
        cd "$pki" || exit 1
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
            -subj "/CN=CashStory Test Update CA" -keyout ca.key -out ca.pem 2>/dev/null
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
            -subj "/CN=CashStory Other CA" -keyout other-ca.key -out other-ca.pem 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -subj "/CN=127.0.0.1" -keyout server.key -out server.csr 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile server.ext -out server.pem 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -subj "/CN=updates.invalid" -keyout wrong.key -out wrong.csr 2>/dev/null
        printf 'subjectAltName=DNS:updates.invalid\nextendedKeyUsage=serverAuth\n' >wrong.ext
        openssl x509 -req -in wrong.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile wrong.ext -out wrong.pem 2>/dev/null
    ) || return 1
    [ -f "$pki/wrong.pem" ]
}

# Print three different TCP ports on 127.0.0.1 that are free now. They are
# taken together, because ports taken one after the other can repeat, and
# two servers on one port would serve the wrong certificate.
nginx_free_ports() {
    python3 -c 'import socket
sockets = [socket.socket() for _ in range(3)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))'
}

nginx_start() {
    local docroot=$1 extra=${2:-}
    nginx_require
    nginx_make_pki || {
        echo "Bail out! cannot make the test certificates with openssl"
        exit 1
    }
    mkdir -p "$NGINX_DIR/temp"
    if [ -z "${NGINX_PORT:-}" ]; then
        read -r NGINX_PORT NGINX_HTTP_PORT NGINX_WRONG_PORT <<<"$(nginx_free_ports)"
    fi
    NGINX_URL="https://127.0.0.1:$NGINX_PORT"
    NGINX_HTTP_URL="http://127.0.0.1:$NGINX_HTTP_PORT"
    NGINX_WRONG_NAME_URL="https://127.0.0.1:$NGINX_WRONG_PORT"
    NGINX_CA="$NGINX_DIR/pki/ca.pem"
    NGINX_OTHER_CA="$NGINX_DIR/pki/other-ca.pem"
    NGINX_LOG="$NGINX_DIR/access.log"
    local pki=$NGINX_DIR/pki temp=$NGINX_DIR/temp
    # One process without a master, so it runs as the test's user (also as
    # root, where a master would switch its workers to "nobody").
    cat >"$NGINX_DIR/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log warn;
events { worker_connections 256; }
http {
    client_body_temp_path $temp/body;
    proxy_temp_path $temp/proxy;
    fastcgi_temp_path $temp/fastcgi;
    uwsgi_temp_path $temp/uwsgi;
    scgi_temp_path $temp/scgi;
    types { application/json json; }
    default_type application/octet-stream;
    log_format updates '\$request_method \$uri \$status \$body_bytes_sent range=\$http_range';
    access_log $NGINX_LOG updates;
    sendfile off;
    server {
        listen 127.0.0.1:$NGINX_PORT ssl;
        ssl_certificate $pki/server.pem;
        ssl_certificate_key $pki/server.key;
        root $docroot;
        $extra
    }
    server {
        listen 127.0.0.1:$NGINX_HTTP_PORT;
        root $docroot;
        $extra
    }
    server {
        listen 127.0.0.1:$NGINX_WRONG_PORT ssl;
        ssl_certificate $pki/wrong.pem;
        ssl_certificate_key $pki/wrong.key;
        root $docroot;
    }
}
EOF
    "$NGINX" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" 2>>"$NGINX_DIR/error.log" &
    NGINX_PID=$!
    # Wait until it accepts requests.
    local i
    for i in $(seq 1 100); do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$NGINX_CA" "$NGINX_URL/")" != 000 ]; then
            return 0
        fi
        if ! kill -0 "$NGINX_PID" 2>/dev/null; then
            echo "Bail out! nginx did not start:"
            sed 's/^/    /' "$NGINX_DIR/error.log"
            exit 1
        fi
        sleep 0.05
    done
    echo "Bail out! nginx does not answer on $NGINX_URL"
    exit 1
}

nginx_stop() {
    [ -n "$NGINX_PID" ] || return 0
    kill "$NGINX_PID" 2>/dev/null
    wait "$NGINX_PID" 2>/dev/null
    NGINX_PID=
}

# Stop the server abruptly, as a crashed or unplugged server would.
nginx_kill() {
    [ -n "$NGINX_PID" ] || return 0
    kill -9 "$NGINX_PID" 2>/dev/null
    wait "$NGINX_PID" 2>/dev/null
    NGINX_PID=
}

nginx_count() {
    grep -Ec -- "$1" "$NGINX_LOG" 2>/dev/null || true
}

nginx_clear_log() {
    : >"$NGINX_LOG"
}

# Stop the server when the test ends, before lib.sh removes $CS_TMP.
trap 'nginx_stop; chmod -R u+w "$CS_TMP" 2>/dev/null; rm -rf "$CS_TMP"' EXIT
