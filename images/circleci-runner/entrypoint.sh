#!/usr/bin/env bash
# Starts one single-task CircleCI machine runner 3 agent from the settings fleetbot leaves in an SSM
# parameter (the resource class token among them). The token is never printed: no `set -x`, no echo of it.
set -euo pipefail

# An agent that gets no task within this long exits, and its task stops: fleetbot may have launched it
# for a task another agent took.
readonly IDLE_TIMEOUT="${CIRCLECI_RUNNER_IDLE_TIMEOUT:-5m}"
readonly RUNNER_LOG_NAME=fleetbot-circleci-runner
# log, fail, the FLEETBOT_RUNNER_CONFIG_* settings and the SSM parameter's reading and deletion, shared
# by the runner images: images/lib in the repository, /usr/local/lib in the image (see the Dockerfile).
# shellcheck source-path=SCRIPTDIR source=../lib/runner-credential.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/runner-credential.sh"

check_runner_config_settings
# A Go duration, as the agent parses it: 90s, 5m, 1h30m.
[[ $IDLE_TIMEOUT =~ ^([0-9]+(ms|s|m|h))+$ ]] ||
  fail "$EXIT_USAGE" "CIRCLECI_RUNNER_IDLE_TIMEOUT must be a duration like 90s, 5m or 1h30m"

read_runner_config
# Nothing else should read the token from here once we hold it. A failed delete is only a warning:
# the agent can still start, and fleetbot deletes the parameter again when the runner is released.
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
