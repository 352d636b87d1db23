#!/usr/bin/env bash
# Starts one ephemeral GitHub Actions runner from the single-use credential that fleetbot
# leaves in an SSM parameter. The credential is never printed: no `set -x`, no echo of it.
set -euo pipefail

readonly RUNNER_HOME="${RUNNER_HOME:-/home/runner}"
readonly POLL_SECONDS="${FLEETBOT_RUNNER_CONFIG_POLL_SECONDS:-2}"
readonly WAIT_SECONDS="${FLEETBOT_RUNNER_CONFIG_WAIT_SECONDS:-600}"
readonly EXIT_USAGE=2 EXIT_CONFIG_NEVER_ARRIVED=3 EXIT_CONFIG_MALFORMED=4

# Keep AWS CLI v2 from paging its output through `less` when a TTY is attached.
export AWS_PAGER=""

log() { printf 'fleetbot-runner: %s\n' "$*" >&2; }
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

# As PID 1 in the task, bash ignores SIGTERM unless it traps it; stop promptly if ECS stops us while waiting.
trap 'exit 143' TERM
trap 'exit 130' INT

# fleetbot starts the task before it writes the credential (it paces its GitHub API writes),
# so the parameter may not exist yet: poll until it does or the wait runs out.
# Sets `value`; aws's stderr goes to a file (removed on exit) so CLI warnings never mix into the credential.
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

# The credential is single-use, so nothing should be able to read it again once we hold it.
# A failed delete is only a warning: the runner can still start, a JIT config is spent once used,
# and a registration token expires within the hour.
delete_runner_config() {
  local delete_errors
  if ! delete_errors="$(aws ssm delete-parameter --name "$param" 2>&1 >/dev/null)"; then
    log "warning: could not delete SSM parameter $param: $(tr '\n' ' ' <<<"$delete_errors")"
  fi
}

# Registration-token mode: {"url","token","name","labels":[...],"runnerGroup"?}.
# jq's stderr is discarded because its messages can quote parts of the input, which holds the token.
register_and_run() {
  local config=$1
  jq -e 'type == "object"
    and ([.url, .token, .name] | all(type == "string" and length > 0))
    and (.labels | type == "array" and length > 0 and all(type == "string"))
    and (.runnerGroup | . == null or type == "string")' >/dev/null 2>&1 <<<"$config" ||
    fail "$EXIT_CONFIG_MALFORMED" "SSM parameter $param holds JSON without the url, token, name and labels a registration needs"

  local url token name labels runner_group
  url="$(jq -r '.url' <<<"$config")"
  token="$(jq -r '.token' <<<"$config")"
  name="$(jq -r '.name' <<<"$config")"
  labels="$(jq -r '.labels | join(",")' <<<"$config")"
  runner_group="$(jq -r '.runnerGroup // empty' <<<"$config")"

  local config_args=(--unattended --ephemeral --disableupdate --replace
    --url "$url" --name "$name" --labels "$labels")
  if [[ -n $runner_group ]]; then
    config_args+=(--runnergroup "$runner_group")
  fi
  config_args+=(--work _work)

  # The runner reads ACTIONS_RUNNER_INPUT_<ARG> for any argument: a token there stays out of argv (ps).
  ACTIONS_RUNNER_INPUT_TOKEN="$token" "$RUNNER_HOME/config.sh" "${config_args[@]}"
  exec "$RUNNER_HOME/run.sh"
}

read_runner_config
delete_runner_config
cd "$RUNNER_HOME"
log "starting runner from SSM parameter $param"
if [[ $value =~ ^[[:space:]]*\{ ]]; then
  register_and_run "$value"
fi
# Default: the encoded just-in-time config, which registers and runs the runner in one step.
# Through the environment, not --jitconfig: an argument is readable by every process (ps).
ACTIONS_RUNNER_INPUT_JITCONFIG="$value" exec "$RUNNER_HOME/run.sh"
