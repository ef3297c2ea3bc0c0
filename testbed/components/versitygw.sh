# testbed component: versitygw, a second, stricter S3 implementation (posix
# backend) so that e2e tests catch what MinIO alone tolerates. Apache-2.0.
VERSITYGW_VERSION=v1.8.0
VERSITYGW_ADDRESS=127.0.0.1:7070
VERSITYGW_ENDPOINT="http://$VERSITYGW_ADDRESS"
VERSITYGW_REGION=us-east-1
VERSITYGW_ACCESS_KEY=stowage-versitygw
VERSITYGW_SECRET_KEY=stowage-versitygw-secret
VERSITYGW_BUCKET=stowage-test
VERSITYGW_LOCK_BUCKET=stowage-lock
VERSITYGW_VHOST_ENDPOINT=http://localhost:7070  # BUCKET.localhost, resolved by curl itself

# Any HTTP answer (versitygw replies 403 to an unsigned request) means it listens.
versitygw_listening() { curl -sS -o /dev/null "$VERSITYGW_ENDPOINT/"; }

up_versitygw() {
  local bin
  bin="$(go_install_cached versitygw "$VERSITYGW_VERSION" github.com/versity/versitygw/cmd/versitygw)"
  if is_running versitygw; then
    log "versitygw already running (pid $(cat "$RUN_DIR/pids/versitygw.pid"))"
  else
    mkdir -p "$RUN_DIR/versitygw-data"
    ROOT_ACCESS_KEY="$VERSITYGW_ACCESS_KEY" ROOT_SECRET_KEY="$VERSITYGW_SECRET_KEY" \
      start_bg versitygw "$bin" --port "$VERSITYGW_ADDRESS" --region "$VERSITYGW_REGION" \
        --virtual-domain localhost posix "$RUN_DIR/versitygw-data"
  fi
  wait_for "versitygw on $VERSITYGW_ADDRESS" 60 versitygw_listening
  s3_make_bucket "$VERSITYGW_ENDPOINT" "$VERSITYGW_REGION" "$VERSITYGW_ACCESS_KEY" "$VERSITYGW_SECRET_KEY" \
    "$VERSITYGW_BUCKET"
  s3_make_bucket "$VERSITYGW_ENDPOINT" "$VERSITYGW_REGION" "$VERSITYGW_ACCESS_KEY" "$VERSITYGW_SECRET_KEY" \
    "$VERSITYGW_LOCK_BUCKET" -H 'x-amz-bucket-object-lock-enabled: true'
  set_env versitygw "export STOWAGE_TEST_S3B_ENDPOINT=$VERSITYGW_ENDPOINT
export STOWAGE_TEST_S3B_BUCKET=$VERSITYGW_BUCKET
export STOWAGE_TEST_S3B_ACCESS_KEY=$VERSITYGW_ACCESS_KEY
export STOWAGE_TEST_S3B_SECRET_KEY=$VERSITYGW_SECRET_KEY
export STOWAGE_TEST_S3B_REGION=$VERSITYGW_REGION
export STOWAGE_TEST_S3B_LOCK_BUCKET=$VERSITYGW_LOCK_BUCKET
export STOWAGE_TEST_S3B_VHOST_ENDPOINT=$VERSITYGW_VHOST_ENDPOINT"
}
