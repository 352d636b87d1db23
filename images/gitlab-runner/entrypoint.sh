#!/usr/bin/env bash
# Runs exactly one GitLab CI job with `gitlab-runner run-single`, from the runner config fleetbot
# leaves in an SSM parameter. The runner token is never printed: no `set -x`, no echo of it.
set -euo pipefail

readonly POLL_SECONDS="${FLEETBOT_RUNNER_CONFIG_POLL_SECONDS:-2}"
readonly WAIT_SECONDS="${FLEETBOT_RUNNER_CONFIG_WAIT_SECONDS:-600}"
readonly JOB_WAIT_SECONDS="${FLEETBOT_GITLAB_JOB_WAIT_SECONDS:-600}"
readonly EXECUTOR="${FLEETBOT_GITLAB_EXECUTOR:-shell}"
readonly DOCKER_IMAGE="${FLEETBOT_GITLAB_DOCKER_IMAGE:-}"
readonly EXIT_USAGE=2 EXIT_CONFIG_NEVER_ARRIVED=3 EXIT_CONFIG_MALFORMED=4

# Keep AWS CLI v2 from paging its output through `less` when a TTY is attached.
export AWS_PAGER=""

log() { printf 'fleetbot-gitlab-runner: %s\n' "$*" >&2; }
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
# run-single waits forever for a job with 0; a runner that never exits would hold its fleet slot.
if ! is_whole_number "$JOB_WAIT_SECONDS" || ((JOB_WAIT_SECONDS == 0)); then
  fail "$EXIT_USAGE" "FLEETBOT_GITLAB_JOB_WAIT_SECONDS must be a positive whole number of seconds"
fi
case "$EXECUTOR" in
  shell) ;;
  docker)
    [[ -n $DOCKER_IMAGE ]] || fail "$EXIT_USAGE" "FLEETBOT_GITLAB_DOCKER_IMAGE must name the default job image for the docker executor"
    ;;
  *) fail "$EXIT_USAGE" "FLEETBOT_GITLAB_EXECUTOR must be shell or docker, not $EXECUTOR" ;;
esac

# As PID 1 in the task, bash ignores SIGTERM unless it traps it; stop promptly if ECS stops us while waiting.
trap 'exit 143' TERM
trap 'exit 130' INT

# fleetbot starts the task before it writes the config, so the parameter may not exist yet: poll
# until it does or the wait runs out. Sets `value`; aws's stderr goes to a file (removed on exit)
# so CLI warnings never mix into the config.
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

# Nothing else should read the config once we hold it. A failed delete is only a warning: the runner
# can still start, and fleetbot deletes the parameter again when the job completes.
delete_runner_config() {
  local delete_errors
  if ! delete_errors="$(aws ssm delete-parameter --name "$param" 2>&1 >/dev/null)"; then
    log "warning: could not delete SSM parameter $param: $(tr '\n' ' ' <<<"$delete_errors")"
  fi
}

read_runner_config
delete_runner_config

# The config: {"url","token","name","tags":[...]}. jq's stderr is discarded because its messages can
# quote parts of the input, which holds the token.
jq -e 'type == "object"
  and ([.url, .token, .name] | all(type == "string" and length > 0))
  and (.tags | . == null or (type == "array" and all(type == "string")))' >/dev/null 2>&1 <<<"$value" ||
  fail "$EXIT_CONFIG_MALFORMED" "SSM parameter $param holds no JSON with the url, token and name run-single needs"

url="$(jq -r '.url' <<<"$value")"
token="$(jq -r '.token' <<<"$value")"
name="$(jq -r '.name' <<<"$value")"
tags="$(jq -r '.tags // [] | join(",")' <<<"$value")"
unset value

# The description is fleetbot's runner name: GitLab reports it back with the job's completion.
runner_args=(run-single --url "$url" --token "$token" --description "$name"
  --executor "$EXECUTOR" --max-builds 1 --wait-timeout "$JOB_WAIT_SECONDS")
if [[ $EXECUTOR == docker ]]; then
  runner_args+=(--docker-image "$DOCKER_IMAGE")
fi

log "starting gitlab-runner run-single as $name for $url (fleet tags: ${tags:-none}, $EXECUTOR executor)"
exec gitlab-runner "${runner_args[@]}"
