# testbed component: MinIO, the primary S3-compatible server for e2e tests.
# Sourced by testbed/up and testbed/down. AGPL: run as a separate process only.
# MinIO tags releases as RELEASE.*, so the module proxy serves it under a Go
# pseudo-version; this is the one `@latest` resolved to on 2026-02-12.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MINIO_ADDRESS=127.0.0.1:9000
MINIO_CONSOLE_ADDRESS=127.0.0.1:9001
MINIO_ENDPOINT="http://$MINIO_ADDRESS"
MINIO_REGION=us-east-1
MINIO_ACCESS_KEY=stowage-minio
MINIO_SECRET_KEY=stowage-minio-secret
MINIO_BUCKET=stowage-test
MINIO_LOCK_BUCKET=stowage-lock
# Virtual-host addressing (BUCKET.localhost:9000): curl resolves *.localhost
# to loopback by itself, so no DNS or /etc/hosts entry is needed.
MINIO_VHOST_ENDPOINT=http://localhost:9000

minio_live() { curl -fsS "$MINIO_ENDPOINT/minio/health/live"; }

up_minio() {
  local bin
  bin="$(go_install_cached minio "$MINIO_VERSION" github.com/minio/minio)"
  if is_running minio; then
    log "minio already running (pid $(cat "$RUN_DIR/pids/minio.pid"))"
  else
    mkdir -p "$RUN_DIR/minio-data"
    MINIO_ROOT_USER="$MINIO_ACCESS_KEY" MINIO_ROOT_PASSWORD="$MINIO_SECRET_KEY" \
      MINIO_UPDATE=off MINIO_REGION="$MINIO_REGION" MINIO_DOMAIN=localhost \
      start_bg minio "$bin" server "$RUN_DIR/minio-data" \
        --address "$MINIO_ADDRESS" --console-address "$MINIO_CONSOLE_ADDRESS"
  fi
  wait_for "minio on $MINIO_ADDRESS" 60 minio_live
  s3_make_bucket "$MINIO_ENDPOINT" "$MINIO_REGION" "$MINIO_ACCESS_KEY" "$MINIO_SECRET_KEY" "$MINIO_BUCKET"
  s3_make_bucket "$MINIO_ENDPOINT" "$MINIO_REGION" "$MINIO_ACCESS_KEY" "$MINIO_SECRET_KEY" "$MINIO_LOCK_BUCKET" \
    -H 'x-amz-bucket-object-lock-enabled: true'
  set_env minio "export STOWAGE_TEST_S3_ENDPOINT=$MINIO_ENDPOINT
export STOWAGE_TEST_S3_BUCKET=$MINIO_BUCKET
export STOWAGE_TEST_S3_LOCK_BUCKET=$MINIO_LOCK_BUCKET
export STOWAGE_TEST_S3_VHOST_ENDPOINT=$MINIO_VHOST_ENDPOINT
export AWS_ACCESS_KEY_ID=$MINIO_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$MINIO_SECRET_KEY
export AWS_REGION=$MINIO_REGION"
}
