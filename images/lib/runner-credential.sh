# shellcheck shell=bash
# Sourced, not run, by each runner image's entrypoint: takes the runner's config (its credential)
# from the SSM parameter fleetbot names in FLEETBOT_RUNNER_CONFIG_PARAM, and deletes the parameter.
# The value is never printed: no `set -x`, no echo of it.
#
# The entrypoint sets RUNNER_LOG_NAME (the prefix of its log lines) before it sources this file, and
# runs under `set -euo pipefail`. Each image's Dockerfile puts this file in /usr/local/lib, beside the
# /usr/local/bin the entrypoint is in; in the repository it is in images/lib, beside images/<image>.

readonly POLL_SECONDS="${FLEETBOT_RUNNER_CONFIG_POLL_SECONDS:-2}"
readonly WAIT_SECONDS="${FLEETBOT_RUNNER_CONFIG_WAIT_SECONDS:-600}"
# EXIT_CONFIG_MALFORMED is for the entrypoint, which checks the config it reads.
# shellcheck disable=SC2034
readonly EXIT_USAGE=2 EXIT_CONFIG_NEVER_ARRIVED=3 EXIT_CONFIG_MALFORMED=4

# Keep AWS CLI v2 from paging its output through `less` when a TTY is attached.
export AWS_PAGER=""

log() { printf '%s: %s\n' "$RUNNER_LOG_NAME" "$*" >&2; }
fail() {
  local code=$1
  shift
  log "error: $*"
  exit "$code"
}

is_whole_number() { [[ $1 =~ ^[0-9]+$ ]]; }

# Sets `param`; exits with EXIT_USAGE on a missing parameter name or a malformed poll or wait setting.
check_runner_config_settings() {
  param="${FLEETBOT_RUNNER_CONFIG_PARAM:-}"
  [[ -n $param ]] || fail "$EXIT_USAGE" "FLEETBOT_RUNNER_CONFIG_PARAM must name the SSM parameter that holds the runner config"
  if ! is_whole_number "$POLL_SECONDS" || ((POLL_SECONDS == 0)); then
    fail "$EXIT_USAGE" "FLEETBOT_RUNNER_CONFIG_POLL_SECONDS must be a positive whole number of seconds"
  fi
  is_whole_number "$WAIT_SECONDS" ||
    fail "$EXIT_USAGE" "FLEETBOT_RUNNER_CONFIG_WAIT_SECONDS must be a whole number of seconds"
}

# fleetbot starts the task before it writes the parameter, so it may not exist yet: poll until it
# does or the wait runs out. Sets `value`; aws's stderr goes to a file (removed on exit) so CLI
# warnings never mix into the config.
read_runner_config() {
  # As PID 1 in the task, bash ignores SIGTERM unless it traps it; stop promptly if ECS stops us while waiting.
  trap 'exit 143' TERM
  trap 'exit 130' INT

  local deadline=$((SECONDS + WAIT_SECONDS)) announced_wait=false remaining
  aws_errors="$(mktemp)"
  trap 'rm -f "$aws_errors"' EXIT
  while true; do
    # shellcheck disable=SC2034 # `value` is what the entrypoint reads.
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

# Nothing else should read the config once we hold it. A failed delete is only a warning: the runner
# can still start (each entrypoint says why that is safe for its runner).
delete_runner_config() {
  local delete_errors
  if ! delete_errors="$(aws ssm delete-parameter --name "$param" 2>&1 >/dev/null)"; then
    log "warning: could not delete SSM parameter $param: $(tr '\n' ' ' <<<"$delete_errors")"
  fi
}
