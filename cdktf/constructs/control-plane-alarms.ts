import { Construct } from 'constructs';
import { CloudwatchMetricAlarm } from '@cdktf/provider-aws/lib/cloudwatch-metric-alarm/index.js';

/** When the control plane needs a human, each checked over one-minute periods. */
export const ALARM_THRESHOLDS = {
  /** A job event failed every delivery attempt: a job may be waiting for a runner that never comes. */
  deadLetters: { metric: 'ApproximateNumberOfMessagesVisible', above: 0 },
  /** Consumers are behind (or down): a job has waited more than a minute before fleetbot saw it. */
  queueAgeSeconds: { metric: 'ApproximateAgeOfOldestMessage', above: 60 },
  /** A function threw or timed out. */
  functionErrors: { metric: 'Errors', above: 0 },
} as const;

export interface ControlPlaneAlarmsProps {
  name: string;
  queueName: string;
  deadLetterQueueName: string;
  /** The functions by what they do (webhooks, worker, tick) → their names. */
  functionNames: Record<string, string>;
  /** Notified when an alarm fires and when it clears. */
  actions: readonly string[];
  tags: Record<string, string>;
}

const PERIOD_SECONDS = 60;

export class ControlPlaneAlarms extends Construct {
  constructor(scope: Construct, id: string, props: ControlPlaneAlarmsProps) {
    super(scope, id);
    const { deadLetters, queueAgeSeconds, functionErrors } = ALARM_THRESHOLDS;
    this.alarm('dead-letters', {
      alarmName: `${props.name}-dead-letters`,
      description: 'fleetbot: job events in the dead-letter queue; redrive them once the cause is fixed',
      namespace: 'AWS/SQS',
      metric: deadLetters.metric,
      statistic: 'Maximum',
      dimensions: { QueueName: props.deadLetterQueueName },
      above: deadLetters.above,
      props,
    });
    this.alarm('queue-age', {
      alarmName: `${props.name}-queue-age`,
      description: 'fleetbot: the oldest job event has waited more than a minute; are the workers running?',
      namespace: 'AWS/SQS',
      metric: queueAgeSeconds.metric,
      statistic: 'Maximum',
      dimensions: { QueueName: props.queueName },
      above: queueAgeSeconds.above,
      props,
    });
    for (const [role, functionName] of Object.entries(props.functionNames)) {
      this.alarm(`${role}-errors`, {
        alarmName: `${props.name}-${role}-errors`,
        description: `fleetbot: the ${role} function failed; see its log group`,
        namespace: 'AWS/Lambda',
        metric: functionErrors.metric,
        statistic: 'Sum',
        dimensions: { FunctionName: functionName },
        above: functionErrors.above,
        props,
      });
    }
  }

  private alarm(id: string, alarm: AlarmSpec): void {
    const actions = alarm.props.actions.length > 0 ? [...alarm.props.actions] : undefined;
    new CloudwatchMetricAlarm(this, id, {
      alarmName: alarm.alarmName,
      alarmDescription: alarm.description,
      namespace: alarm.namespace,
      metricName: alarm.metric,
      statistic: alarm.statistic,
      dimensions: alarm.dimensions,
      period: PERIOD_SECONDS,
      evaluationPeriods: 1,
      threshold: alarm.above,
      comparisonOperator: 'GreaterThanThreshold',
      // No data points (an idle queue, a function not invoked) is fine, not a reason to alarm.
      treatMissingData: 'notBreaching',
      alarmActions: actions,
      okActions: actions,
      tags: alarm.props.tags,
    });
  }
}

interface AlarmSpec {
  alarmName: string;
  description: string;
  namespace: string;
  metric: string;
  statistic: string;
  dimensions: Record<string, string>;
  above: number;
  props: ControlPlaneAlarmsProps;
}
