#!/usr/bin/env bash
# Runs exactly one GitLab CI job with `gitlab-runner run-single`, from the runner config fleetbot
# leaves in an SSM parameter. The runner token is never printed: no `set -x`, no echo of it.
set -euo pipefail

readonly JOB_WAIT_SECONDS="${FLEETBOT_GITLAB_JOB_WAIT_SECONDS:-600}"
readonly EXECUTOR="${FLEETBOT_GITLAB_EXECUTOR:-shell}"
readonly DOCKER_IMAGE="${FLEETBOT_GITLAB_DOCKER_IMAGE:-}"
readonly RUNNER_LOG_NAME=fleetbot-gitlab-runner
# log, fail, the FLEETBOT_RUNNER_CONFIG_* settings and the SSM parameter's reading and deletion, shared
# by the runner images: images/lib in the repository, /usr/local/lib in the image (see the Dockerfile).
# shellcheck source-path=SCRIPTDIR source=../lib/runner-credential.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/runner-credential.sh"

check_runner_config_settings
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

read_runner_config
# Nothing else should read the config once we hold it. A failed delete is only a warning: the runner
# can still start, and fleetbot deletes the parameter again when the job completes.
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
