#!/usr/bin/env bash
# Starts one single-task CircleCI machine runner 3 agent from the settings fleetbot leaves in an SSM
# parameter (the resource class token among them). The token is never printed: no `set -x`, no echo of it.
set -euo pipefail

readonly POLL_SECONDS="${FLEETBOT_RUNNER_CONFIG_POLL_SECONDS:-2}"
readonly WAIT_SECONDS="${FLEETBOT_RUNNER_CONFIG_WAIT_SECONDS:-600}"
# An agent that gets no task within this long exits, and its task stops: fleetbot may have launched it
# for a task another agent took.
readonly IDLE_TIMEOUT="${CIRCLECI_RUNNER_IDLE_TIMEOUT:-5m}"
readonly EXIT_USAGE=2 EXIT_CONFIG_NEVER_ARRIVED=3 EXIT_CONFIG_MALFORMED=4

# Keep AWS CLI v2 from paging its output through `less` when a TTY is attached.
export AWS_PAGER=""

log() { printf 'fleetbot-circleci-runner: %s\n' "$*" >&2; }
fail() {
  local code=$1
  shift
  log "error: $*"
  exit "$code"
}

is_whole_number() { [[ $1 =~ ^[0-9]+$ ]]; }

param="${FLEETBOT_RUNNER_CONFIG_PARAM:-}"
[[ -n $param ]] || fail "$EXIT_USAGE" "FLEETBOT_RUNNER_CONFIG_PARAM must name the SSM parameter that holds the runner config"
if ! is_whole_number "$POLL_SECONDS" || ((POLL_SECONDS == 0)); then
  fail "$EXIT_USAGE" "FLEETBOT_RUNNER_CONFIG_POLL_SECONDS must be a positive whole number of seconds"
fi
is_whole_number "$WAIT_SECONDS" ||
  fail "$EXIT_USAGE" "FLEETBOT_RUNNER_CONFIG_WAIT_SECONDS must be a whole number of seconds"
# A Go duration, as the agent parses it: 90s, 5m, 1h30m.
[[ $IDLE_TIMEOUT =~ ^([0-9]+(ms|s|m|h))+$ ]] ||
  fail "$EXIT_USAGE" "CIRCLECI_RUNNER_IDLE_TIMEOUT must be a duration like 90s, 5m or 1h30m"

# As PID 1 in the task, bash ignores SIGTERM unless it traps it; stop promptly if ECS stops us while waiting.
trap 'exit 143' TERM
trap 'exit 130' INT

# fleetbot starts the task before it writes the parameter, so it may not exist yet: poll until it
# does or the wait runs out. Sets `value`; aws's stderr goes to a file (removed on exit) so CLI
# warnings never mix into the config.
read_runner_config() {
  local deadline=$((SECONDS + WAIT_SECONDS)) announced_wait=false remaining
  aws_errors="$(mktemp)"
  trap 'rm -f "$aws_errors"' EXIT
  while true; do
    if value="$(aws ssm get-parameter --name "$param" --with-decryption \
      --query Parameter.Value --output text 2>"$aws_errors")"; then
      rm -f "$aws_errors"
      trap - EXIT
      return 0
    fi
    # The error text never contains the value: none was returned.
    if grep -q 'ParameterNotFound' "$aws_errors"; then
      if [[ $announced_wait == false ]]; then
        log "waiting up to ${WAIT_SECONDS}s for SSM parameter $param"
        announced_wait=true
      fi
    else
      # Throttling, a network hiccup or credentials not yet available: retry until the deadline.
      log "reading SSM parameter $param failed, retrying: $(tr '\n' ' ' <"$aws_errors")"
    fi
    remaining=$((deadline - SECONDS))
    if ((remaining <= 0)); then
      fail "$EXIT_CONFIG_NEVER_ARRIVED" "SSM parameter $param did not appear within ${WAIT_SECONDS}s"
    fi
    sleep $((remaining < POLL_SECONDS ? remaining : POLL_SECONDS))
  done
}

# Nothing else should read the token from here once we hold it. A failed delete is only a warning:
# the agent can still start, and fleetbot deletes the parameter again when the runner is released.
delete_runner_config() {
  local delete_errors
  if ! delete_errors="$(aws ssm delete-parameter --name "$param" 2>&1 >/dev/null)"; then
    log "warning: could not delete SSM parameter $param: $(tr '\n' ' ' <<<"$delete_errors")"
  fi
}

read_runner_config
delete_runner_config

# {"token","name","url","resourceClass"}. jq's stderr is discarded because its messages can quote
# parts of the input, which holds the token.
jq -e 'type == "object" and ([.token, .name, .url, .resourceClass] | all(type == "string" and length > 0))' \
  >/dev/null 2>&1 <<<"$value" ||
  fail "$EXIT_CONFIG_MALFORMED" "SSM parameter $param holds no JSON with the token, name, url and resourceClass the agent needs"

CIRCLECI_RUNNER_API_AUTH_TOKEN="$(jq -r '.token' <<<"$value")"
CIRCLECI_RUNNER_NAME="$(jq -r '.name' <<<"$value")"
CIRCLECI_RUNNER_API_URL="$(jq -r '.url' <<<"$value")"
resource_class="$(jq -r '.resourceClass' <<<"$value")"
unset value
# One task, then the agent exits and the task (or instance) ends with it.
export CIRCLECI_RUNNER_API_AUTH_TOKEN CIRCLECI_RUNNER_NAME CIRCLECI_RUNNER_API_URL
export CIRCLECI_RUNNER_MODE=single-task CIRCLECI_RUNNER_IDLE_TIMEOUT="$IDLE_TIMEOUT"

log "starting CircleCI runner $CIRCLECI_RUNNER_NAME for $resource_class (single-task, idle timeout $IDLE_TIMEOUT)"
exec circleci-runner machine
