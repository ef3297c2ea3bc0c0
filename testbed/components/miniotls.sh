# testbed component "miniotls": a second MinIO serving HTTPS on 127.0.0.1:9443
# with a self-signed certificate made here (SAN IP:127.0.0.1), so that the S3
# backend's TLS verification, ca-bundle= and insecure=true are tested against
# a real TLS server. Same binary and credentials as the "minio" component.
source "$TESTBED_DIR/components/minio.sh"
MINIOTLS_ADDRESS=127.0.0.1:9443
MINIOTLS_CONSOLE_ADDRESS=127.0.0.1:9444
MINIOTLS_ENDPOINT="https://$MINIOTLS_ADDRESS"
MINIOTLS_CERTS="$RUN_DIR/miniotls-certs"

miniotls_live() { curl -fsS --cacert "$MINIOTLS_CERTS/CAs/ca.crt" "$MINIOTLS_ENDPOINT/minio/health/live"; }

up_miniotls() {
  local bin
  bin="$(go_install_cached minio "$MINIO_VERSION" github.com/minio/minio)"
  if [ ! -f "$MINIOTLS_CERTS/public.crt" ]; then
    mkdir -p "$MINIOTLS_CERTS/CAs"
    # A CA, and a server certificate for 127.0.0.1 signed by it.
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=stowage testbed CA" \
      -keyout "$MINIOTLS_CERTS/ca.key" -out "$MINIOTLS_CERTS/CAs/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
      -keyout "$MINIOTLS_CERTS/private.key" -out "$MINIOTLS_CERTS/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\n' >"$MINIOTLS_CERTS/san.ext"
    openssl x509 -req -in "$MINIOTLS_CERTS/server.csr" -CA "$MINIOTLS_CERTS/CAs/ca.crt" \
      -CAkey "$MINIOTLS_CERTS/ca.key" -CAcreateserial -days 3650 -extfile "$MINIOTLS_CERTS/san.ext" \
      -out "$MINIOTLS_CERTS/public.crt" 2>/dev/null || die "cannot make the miniotls certificate"
  fi
  if is_running miniotls; then
    log "miniotls already running (pid $(cat "$RUN_DIR/pids/miniotls.pid"))"
  else
    mkdir -p "$RUN_DIR/miniotls-data"
    MINIO_ROOT_USER="$MINIO_ACCESS_KEY" MINIO_ROOT_PASSWORD="$MINIO_SECRET_KEY" \
      MINIO_UPDATE=off MINIO_REGION="$MINIO_REGION" \
      start_bg miniotls "$bin" server "$RUN_DIR/miniotls-data" --certs-dir "$MINIOTLS_CERTS" \
        --address "$MINIOTLS_ADDRESS" --console-address "$MINIOTLS_CONSOLE_ADDRESS"
  fi
  wait_for "miniotls on $MINIOTLS_ADDRESS" 60 miniotls_live
  s3_make_bucket "$MINIOTLS_ENDPOINT" "$MINIO_REGION" "$MINIO_ACCESS_KEY" "$MINIO_SECRET_KEY" "$MINIO_BUCKET" \
    --cacert "$MINIOTLS_CERTS/CAs/ca.crt"
  set_env miniotls "export STOWAGE_TEST_S3TLS_ENDPOINT=$MINIOTLS_ENDPOINT
export STOWAGE_TEST_S3TLS_BUCKET=$MINIO_BUCKET
export STOWAGE_TEST_S3TLS_CA=$MINIOTLS_CERTS/CAs/ca.crt
export STOWAGE_TEST_S3TLS_ACCESS_KEY=$MINIO_ACCESS_KEY
export STOWAGE_TEST_S3TLS_SECRET_KEY=$MINIO_SECRET_KEY"
}
