#!/usr/bin/env bash
# User data of a fleetbot EC2 runner: fetch this instance's single-use runner credential from SSM, run
# one job, power off. The launch template makes an instance-initiated shutdown terminate the instance.
# See README.md. The credential is never printed: no `set -x`, no echo of it.
set -euo pipefail

readonly RUNNER_DIR=/opt/actions-runner
readonly RUNNER_USER=runner
readonly IMDS=http://169.254.169.254
readonly WAIT_SECONDS=600 POLL_SECONDS=3

# Keep AWS CLI v2 from paging its output.
export AWS_PAGER=""

log() { printf 'fleetbot-runner: %s\n' "$*" >&2; }

# Whatever happens, a runner instance never outlives its one job: a failure powers off too.
power_off() {
  local code=$?
  log "exiting with $code; powering off"
  shutdown -h now || poweroff
}
trap power_off EXIT

imds_token="$(curl -fsS --retry 5 --retry-connrefused -X PUT "$IMDS/latest/api/token" \
  -H 'X-aws-ec2-metadata-token-ttl-seconds: 600')"
imds() { curl -fsS --retry 5 --retry-connrefused -H "X-aws-ec2-metadata-token: $imds_token" "$IMDS/latest/meta-data/$1"; }

# fleetbot tags each instance it launches with its runner name; the launch template exposes tags in IMDS.
runner="$(imds tags/instance/fleetbot:runner)"
[[ $runner =~ ^[A-Za-z0-9._-]+$ ]] || {
  log "error: instance tag fleetbot:runner is not a runner name"
  exit 2
}
AWS_DEFAULT_REGION="$(imds placement/region)"
export AWS_DEFAULT_REGION
readonly param="/fleetbot/runners/$runner"

# fleetbot may write the credential shortly after the instance starts, and SSM calls can fail
# transiently: retry until the deadline. Sets `value`; aws's stderr goes to a file so warnings never mix
# into the credential, and the error text holds no value because none was returned.
read_runner_config() {
  local deadline=$((SECONDS + WAIT_SECONDS)) errors
  errors="$(mktemp)"
  until value="$(aws ssm get-parameter --name "$param" --with-decryption \
    --query Parameter.Value --output text 2>"$errors")"; do
    if ((SECONDS >= deadline)); then
      log "error: could not read SSM parameter $param within ${WAIT_SECONDS}s: $(tr '\n' ' ' <"$errors")"
      rm -f "$errors"
      exit 3
    fi
    grep -q ParameterNotFound "$errors" || log "reading SSM parameter $param failed, retrying: $(tr '\n' ' ' <"$errors")"
    sleep "$POLL_SECONDS"
  done
  rm -f "$errors"
}

read_runner_config
# Single use: nothing should read it again. A failed delete only warns; a JIT config is spent once used.
aws ssm delete-parameter --name "$param" >/dev/null || log "warning: could not delete SSM parameter $param"

[[ -x $RUNNER_DIR/run.sh ]] || {
  log "error: no GitHub Actions runner at $RUNNER_DIR (see images/ec2/README.md)"
  exit 4
}
cd "$RUNNER_DIR"
log "starting runner $runner"
if [[ $value =~ ^[[:space:]]*\{ ]]; then
  # Registration-token fleets: {"url","token","name","labels":[...],"runnerGroup"?}. jq's stderr is
  # discarded because its messages can quote the input, which holds the token.
  config_args=(--unattended --ephemeral --disableupdate --replace --work _work)
  for field in url token name; do
    if ! field_value="$(jq -er ".$field | strings" <<<"$value" 2>/dev/null)"; then
      log "error: SSM parameter $param holds JSON without a $field"
      exit 4
    fi
    config_args+=("--$field" "$field_value")
  done
  if ! labels="$(jq -er '.labels | join(",")' <<<"$value" 2>/dev/null)"; then
    log "error: SSM parameter $param holds JSON without labels"
    exit 4
  fi
  config_args+=(--labels "$labels")
  runner_group="$(jq -r '.runnerGroup // empty' <<<"$value" 2>/dev/null)"
  [[ -z $runner_group ]] || config_args+=(--runnergroup "$runner_group")
  runuser -u "$RUNNER_USER" -- ./config.sh "${config_args[@]}"
  runuser -u "$RUNNER_USER" -- ./run.sh
else
  # The encoded just-in-time config registers the runner and takes one job.
  runuser -u "$RUNNER_USER" -- ./run.sh --jitconfig "$value"
fi
