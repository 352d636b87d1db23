#!/usr/bin/env bash
# User data of a fleetbot CircleCI runner instance (EC2 launch template or Auto Scaling group): wait
# until fleetbot names this instance's runner, read the runner's settings from SSM, run one CircleCI
# task with the machine runner 3 agent, power off. See README.md. The token is never printed.
set -euo pipefail

readonly AGENT_USER=circleci
readonly IMDS=http://169.254.169.254
readonly WAIT_SECONDS=600 POLL_SECONDS=3
readonly IDLE_TIMEOUT=5m

export AWS_PAGER=""

log() { printf 'fleetbot-circleci-runner: %s\n' "$*" >&2; }

# Whatever happens, a runner instance never outlives its one task: a failure powers off too.
power_off() {
  local code=$?
  log "exiting with $code; powering off"
  shutdown -h now || poweroff
}
trap power_off EXIT

imds_token="$(curl -fsS --retry 5 --retry-connrefused -X PUT "$IMDS/latest/api/token" \
  -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600')"
imds() { curl -fsS -H "X-aws-ec2-metadata-token: $imds_token" "$IMDS/latest/meta-data/$1"; }

# An Auto Scaling group starts the instance before fleetbot hands it to a runner by tagging it (fleet
# and runner in one call), so the tags may not be there yet (an EC2 launch has them from the start).
deadline=$((SECONDS + WAIT_SECONDS))
until runner="$(imds tags/instance/fleetbot:runner 2>/dev/null)" && fleet="$(imds tags/instance/fleetbot:fleet 2>/dev/null)"; do
  if ((SECONDS >= deadline)); then
    log "error: no fleetbot:runner and fleetbot:fleet tags within ${WAIT_SECONDS}s"
    exit 2
  fi
  sleep "$POLL_SECONDS"
done
[[ $runner =~ ^[A-Za-z0-9._-]+$ ]] || {
  log "error: instance tag fleetbot:runner is not a runner name"
  exit 2
}
[[ $fleet =~ ^[a-z0-9][a-z0-9-]*$ ]] || {
  log "error: instance tag fleetbot:fleet is not a fleet name"
  exit 2
}
AWS_DEFAULT_REGION="$(imds placement/region)"
export AWS_DEFAULT_REGION
# A level per fleet: the instance role may read only its own fleet's `<fleet>/*`.
readonly param="/fleetbot/runners/$fleet/$runner"

# fleetbot writes the parameter just after the launch, and SSM calls can fail transiently: retry
# until the deadline. aws's stderr goes to a file so warnings never mix into the value.
errors="$(mktemp)"
until value="$(aws ssm get-parameter --name "$param" --with-decryption \
  --query Parameter.Value --output text 2>"$errors")"; do
  if ((SECONDS >= deadline)); then
    log "error: could not read SSM parameter $param in time: $(tr '\n' ' ' <"$errors")"
    exit 3
  fi
  grep -q ParameterNotFound "$errors" || log "reading SSM parameter $param failed, retrying: $(tr '\n' ' ' <"$errors")"
  sleep "$POLL_SECONDS"
done
rm -f "$errors"
aws ssm delete-parameter --name "$param" >/dev/null || log "warning: could not delete SSM parameter $param"

command -v circleci-runner >/dev/null || {
  log "error: no circleci-runner agent installed (see images/ec2/README.md)"
  exit 4
}
# {"token","name","url","resourceClass"}; jq's stderr is discarded because it can quote the input.
for field in token name url; do
  jq -e ".$field | strings | length > 0" >/dev/null 2>&1 <<<"$value" || {
    log "error: SSM parameter $param holds no $field"
    exit 4
  }
done
CIRCLECI_RUNNER_API_AUTH_TOKEN="$(jq -r '.token' <<<"$value")"
CIRCLECI_RUNNER_NAME="$(jq -r '.name' <<<"$value")"
CIRCLECI_RUNNER_API_URL="$(jq -r '.url' <<<"$value")"
unset value
export CIRCLECI_RUNNER_API_AUTH_TOKEN CIRCLECI_RUNNER_NAME CIRCLECI_RUNNER_API_URL
export CIRCLECI_RUNNER_MODE=single-task CIRCLECI_RUNNER_IDLE_TIMEOUT="$IDLE_TIMEOUT"

log "starting CircleCI runner $CIRCLECI_RUNNER_NAME (single-task)"
runuser -u "$AGENT_USER" --preserve-environment -- circleci-runner machine
