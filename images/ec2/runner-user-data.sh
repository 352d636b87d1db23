#!/usr/bin/env bash
# User data of a fleetbot EC2 runner: wait for this instance's fleetbot:runner and fleetbot:fleet
# tags, fetch the runner's single-use credential from SSM, run one job, power off. The launch template
# makes an instance-initiated shutdown terminate the instance. See README.md.
# The credential is never printed: no `set -x`, no echo of it.
set -euo pipefail

# Production defaults; the environment may override them for an AMI laid out differently.
readonly IMDS="${FLEETBOT_IMDS_URL:-http://169.254.169.254}"
readonly RUNNER_DIR="${FLEETBOT_RUNNER_DIR:-/opt/actions-runner}"
readonly RUNNER_USER="${FLEETBOT_RUNNER_USER:-runner}"
readonly TAG_WAIT_SECONDS="${FLEETBOT_RUNNER_TAG_WAIT_SECONDS:-600}"
readonly CONFIG_WAIT_SECONDS="${FLEETBOT_RUNNER_CONFIG_WAIT_SECONDS:-600}"
readonly POLL_SECONDS="${FLEETBOT_RUNNER_POLL_SECONDS:-3}"
readonly RUNNER_TAG=fleetbot:runner FLEET_TAG=fleetbot:fleet
readonly EXIT_SETTINGS=1 EXIT_NO_TAG=2 EXIT_NO_CONFIG=3 EXIT_NO_RUNNER=4

# Keep AWS CLI v2 from paging its output.
export AWS_PAGER=""

log() { printf 'fleetbot-runner: %s\n' "$*" >&2; }
fail() {
  local code=$1
  shift
  log "error: $*"
  exit "$code"
}

# Whatever happens, a runner instance never outlives its one job: a failure powers off too.
power_off() {
  local code=$?
  [[ -z ${scratch:-} ]] || rm -rf "$scratch"
  log "exiting with $code; powering off"
  shutdown -h now || poweroff
}
trap power_off EXIT
scratch="$(mktemp -d)"

for setting in TAG_WAIT_SECONDS CONFIG_WAIT_SECONDS POLL_SECONDS; do
  [[ ${!setting} =~ ^[0-9]+$ ]] || fail "$EXIT_SETTINGS" "FLEETBOT_RUNNER_$setting must be a whole number of seconds"
done
((POLL_SECONDS > 0)) || fail "$EXIT_SETTINGS" "FLEETBOT_RUNNER_POLL_SECONDS must be positive"

# Sleeps one poll interval, or less when the deadline comes first; fails with `code` past the deadline.
wait_or_fail() {
  local deadline=$1 code=$2 message=$3 remaining=$(($1 - SECONDS))
  ((remaining > 0)) || fail "$code" "$message"
  sleep $((remaining < POLL_SECONDS ? remaining : POLL_SECONDS))
}

# The token outlives the longest boot (both waits), so it is fetched once.
imds_token="$(curl -fsS --retry 5 --retry-connrefused -X PUT "$IMDS/latest/api/token" \
  -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600')"
imds() { curl -fsS --retry 5 --retry-connrefused -H "X-aws-ec2-metadata-token: $imds_token" "$IMDS/latest/meta-data/$1"; }

# fleetbot names the instance's fleet and runner in its fleetbot:fleet and fleetbot:runner tags, in one
# call (the launch template exposes tags in IMDS). An instance it launches itself has them from the
# start; an Auto Scaling group's instance boots without them and is tagged when fleetbot hands it a
# runner. IMDS answers 404 until then. Both waits share one deadline. Sets `tag_value`.
wait_for_tag() {
  local tag=$1 announced=false status answer="$scratch/tag"
  while true; do
    status="$(curl -sS --retry 5 --retry-connrefused -o "$answer" -w '%{http_code}' \
      -H "X-aws-ec2-metadata-token: $imds_token" "$IMDS/latest/meta-data/tags/instance/$tag")" || true
    case $status in
      200)
        tag_value="$(<"$answer")"
        return 0
        ;;
      404)
        if [[ $announced == false ]]; then
          log "waiting up to ${TAG_WAIT_SECONDS}s for instance tag $tag"
          announced=true
        fi
        ;;
      *) log "reading instance tag $tag failed (HTTP ${status:-none}), retrying" ;;
    esac
    wait_or_fail "$tag_deadline" "$EXIT_NO_TAG" "instance tag $tag did not appear within ${TAG_WAIT_SECONDS}s"
  done
}

AWS_DEFAULT_REGION="$(imds placement/region)"
export AWS_DEFAULT_REGION
readonly tag_deadline=$((SECONDS + TAG_WAIT_SECONDS))
wait_for_tag "$RUNNER_TAG"
runner=$tag_value
[[ $runner =~ ^[A-Za-z0-9._-]+$ ]] || fail "$EXIT_NO_TAG" "instance tag $RUNNER_TAG is not a runner name"
wait_for_tag "$FLEET_TAG"
fleet=$tag_value
[[ $fleet =~ ^[a-z0-9][a-z0-9-]*$ ]] || fail "$EXIT_NO_TAG" "instance tag $FLEET_TAG is not a fleet name"
# A level per fleet: the instance role may read only its own fleet's `<fleet>/*`.
readonly param="/fleetbot/runners/$fleet/$runner"

# fleetbot may write the credential a while after it tags the instance (it paces its GitHub API
# writes), and SSM calls can fail transiently: retry until the deadline. Sets `value`; aws's stderr
# goes to a file so warnings never mix into the credential, and the error text holds no value because
# none was returned.
read_runner_config() {
  local deadline=$((SECONDS + CONFIG_WAIT_SECONDS)) errors="$scratch/ssm-errors"
  until value="$(aws ssm get-parameter --name "$param" --with-decryption \
    --query Parameter.Value --output text 2>"$errors")"; do
    grep -q ParameterNotFound "$errors" || log "reading SSM parameter $param failed, retrying: $(tr '\n' ' ' <"$errors")"
    wait_or_fail "$deadline" "$EXIT_NO_CONFIG" "could not read SSM parameter $param within ${CONFIG_WAIT_SECONDS}s"
  done
}

read_runner_config
# Single use: nothing should read it again. A failed delete only warns; a JIT config is spent once used.
aws ssm delete-parameter --name "$param" >/dev/null || log "warning: could not delete SSM parameter $param"

[[ -x $RUNNER_DIR/run.sh ]] || fail "$EXIT_NO_RUNNER" "no GitHub Actions runner at $RUNNER_DIR (see images/ec2/README.md)"
cd "$RUNNER_DIR"
log "starting runner $runner"
if [[ $value =~ ^[[:space:]]*\{ ]]; then
  # Registration-token fleets: {"url","token","name","labels":[...],"runnerGroup"?}. jq's stderr is
  # discarded because its messages can quote the input, which holds the token.
  config_args=(--unattended --ephemeral --disableupdate --replace --work _work)
  for field in url name; do
    field_value="$(jq -er ".$field | strings" <<<"$value" 2>/dev/null)" ||
      fail "$EXIT_NO_RUNNER" "SSM parameter $param holds JSON without a $field"
    config_args+=("--$field" "$field_value")
  done
  token="$(jq -er '.token | strings' <<<"$value" 2>/dev/null)" ||
    fail "$EXIT_NO_RUNNER" "SSM parameter $param holds JSON without a token"
  labels="$(jq -er '.labels | join(",")' <<<"$value" 2>/dev/null)" ||
    fail "$EXIT_NO_RUNNER" "SSM parameter $param holds JSON without labels"
  config_args+=(--labels "$labels")
  runner_group="$(jq -r '.runnerGroup // empty' <<<"$value" 2>/dev/null)"
  [[ -z $runner_group ]] || config_args+=(--runnergroup "$runner_group")
  # The runner reads ACTIONS_RUNNER_INPUT_<ARG> for any argument: a secret there stays out of argv
  # (ps), and runuser passes the environment on.
  ACTIONS_RUNNER_INPUT_TOKEN="$token" runuser -u "$RUNNER_USER" -- ./config.sh "${config_args[@]}"
  runuser -u "$RUNNER_USER" -- ./run.sh
else
  # The encoded just-in-time config registers the runner and takes one job.
  ACTIONS_RUNNER_INPUT_JITCONFIG="$value" runuser -u "$RUNNER_USER" -- ./run.sh
fi
