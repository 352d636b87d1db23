import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { DeliveryTooLarge, type VerifiedDelivery } from '../../../src/deliveries.js';
import { decodeDelivery, encodeDelivery, MAX_MESSAGE_BYTES } from '../../../src/queue/message.js';
import { SqsDeliveryQueue } from '../../../src/queue/sqs-queue.js';
import { queuedJob } from '../../helpers/payloads.js';

const examples = createRequire(import.meta.url)('@octokit/webhooks-examples') as Array<{ name: string; examples: any[] }>;

function recordingSqs(): { client: SQSClient; bodies: string[] } {
  const bodies: string[] = [];
  const client = { send: async (command: { input: { MessageBody: string } }) => void bodies.push(command.input.MessageBody) };
  return { client: client as unknown as SQSClient, bodies };
}

describe('queued deliveries', () => {
  it('come out of a message as they went in', () => {
    const delivery: VerifiedDelivery = {
      ci: 'gitlab',
      id: 'uuid-1',
      event: 'Job Hook',
      body: '{"build_id":1,"ü":"✓"}',
      matched: ['/gl/secret'],
    };

    expect(decodeDelivery(encodeDelivery(delivery))).toEqual(delivery);
  });

  it('are sent one message each, a workflow_job in far less than the limit', async () => {
    const sqs = recordingSqs();
    const body = JSON.stringify(queuedJob({ jobId: 1, org: 'acme' }));

    await new SqsDeliveryQueue(sqs.client, 'https://sqs.example/q').send({ ci: 'github', id: 'd', event: 'workflow_job', body });

    expect(sqs.bodies).toHaveLength(1);
    expect(Buffer.byteLength(sqs.bodies[0]!)).toBeLessThan(Buffer.byteLength(body));
    expect(decodeDelivery(sqs.bodies[0]!).body).toBe(body);
  });

  it("carry GitHub's largest comment on its largest issue, over 256 KiB as text, compressed under the limit", async () => {
    const sqs = recordingSqs();
    const payload = structuredClone(examples.find((entry) => entry.name === 'issue_comment')!.examples[0]);
    // GitHub caps both at 65,536 characters; in CJK text each takes 3 bytes.
    payload.issue.body = '### 艦隊の名前\n\n大きな艦隊を申請します。\n\n'.repeat(2_500).slice(0, 65_536);
    payload.comment.body = '承認します、理由は長いです。'.repeat(4_700).slice(0, 65_536);
    const body = JSON.stringify(payload);

    await new SqsDeliveryQueue(sqs.client, 'https://sqs.example/q').send({ ci: 'github', id: 'd', event: 'issue_comment', body });

    expect(Buffer.byteLength(body)).toBeGreaterThan(MAX_MESSAGE_BYTES);
    expect(decodeDelivery(sqs.bodies[0]!).body).toBe(body);
  });

  it('refuse a delivery that does not fit even compressed, and send nothing', async () => {
    const sqs = recordingSqs();
    const body = JSON.stringify({ noise: randomBytes(MAX_MESSAGE_BYTES).toString('base64') });

    const sent = new SqsDeliveryQueue(sqs.client, 'https://sqs.example/q').send({ ci: 'github', id: 'd', event: 'issues', body });

    await expect(sent).rejects.toBeInstanceOf(DeliveryTooLarge);
    expect(sqs.bodies).toEqual([]);
  });

  it('are not read from a message fleetbot did not write', () => {
    expect(() => decodeDelivery('{"ci":"github","event":"x","body":"{}"}')).toThrow();
    expect(() => decodeDelivery('plain text')).toThrow();
  });
});
