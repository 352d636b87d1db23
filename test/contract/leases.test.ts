import { describeOnEveryStore } from '../helpers/store-backends.js';

const TTL = 1_000;

describeOnEveryStore('leases and request locks (store contract)', (store) => {
  it('gives a lease to one holder at a time; its renewals keep the token', async () => {
    const token = await store().lease.acquire('reconciler', 'a', TTL, 0);
    expect(token).toEqual(expect.any(Number));
    expect(await store().lease.acquire('reconciler', 'b', TTL, 500)).toBeUndefined();
    expect(await store().lease.acquire('reconciler', 'a', TTL, 900)).toBe(token);
    // The renewal at 900 runs to 1900: b is still refused at 1500.
    expect(await store().lease.acquire('reconciler', 'b', TTL, 1_500)).toBeUndefined();
    expect(await store().lease.holds('reconciler', 'a', token!, 1_500)).toBe(true);
    // Other names are other leases.
    expect(await store().lease.acquire('retention', 'b', TTL, 1_500)).toEqual(expect.any(Number));
  });

  it('of many concurrent claims, exactly one wins', async () => {
    const holders = Array.from({ length: 20 }, (_, index) => `replica-${index}`);
    const tokens = await Promise.all(holders.map((holder) => store().lease.acquire('circleci-poll', holder, TTL, 0)));
    expect(tokens.filter((token) => token !== undefined)).toHaveLength(1);
  });

  it('passes to another holder once it lapses, with a greater token; the stale holder can no longer renew', async () => {
    const first = (await store().lease.acquire('reconciler', 'a', TTL, 0))!;
    expect(await store().lease.acquire('reconciler', 'b', TTL, TTL - 1)).toBeUndefined();
    const second = (await store().lease.acquire('reconciler', 'b', TTL, TTL))!;
    expect(second).toBeGreaterThan(first);
    expect(await store().lease.acquire('reconciler', 'a', TTL, TTL + 10)).toBeUndefined();
    expect(await store().lease.holds('reconciler', 'a', first, TTL + 10)).toBe(false);
    expect(await store().lease.holds('reconciler', 'b', second, TTL + 10)).toBe(true);
    expect(await store().lease.holds('reconciler', 'b', second, 2 * TTL)).toBe(false);
    // Taking one's own lapsed lease again is a new term too.
    const third = (await store().lease.acquire('reconciler', 'b', TTL, 3 * TTL))!;
    expect(third).toBeGreaterThan(second);
  });

  it('is freed at once by its holder, and only by its holder in its term', async () => {
    const token = (await store().lease.acquire('retention', 'a', TTL, 0))!;
    await store().lease.release('retention', 'b', token);
    await store().lease.release('retention', 'a', token + 1);
    expect(await store().lease.acquire('retention', 'b', TTL, 10)).toBeUndefined();
    await store().lease.release('retention', 'a', token);
    expect(await store().lease.holds('retention', 'a', token, 20)).toBe(false);
    expect(await store().lease.acquire('retention', 'b', TTL, 20)).toBeGreaterThan(token);
  });

  it('locks a request for one holder at a time, until it unlocks or its lock lapses', async () => {
    const { issueOps } = store();
    expect(await issueOps.lockRequest('acme/fleets', 7, 'a', TTL, 0)).toBe(true);
    expect(await issueOps.lockRequest('acme/fleets', 7, 'b', TTL, 100)).toBe(false);
    // Another request is another lock.
    expect(await issueOps.lockRequest('acme/fleets', 8, 'b', TTL, 100)).toBe(true);
    expect(await issueOps.lockRequest('acme/fleets', 7, 'a', TTL, 900)).toBe(true);
    expect(await issueOps.lockRequest('acme/fleets', 7, 'b', TTL, 1_500)).toBe(false);
    await issueOps.unlockRequest('acme/fleets', 7, 'b');
    expect(await issueOps.lockRequest('acme/fleets', 7, 'b', TTL, 1_600)).toBe(false);
    await issueOps.unlockRequest('acme/fleets', 7, 'a');
    expect(await issueOps.lockRequest('acme/fleets', 7, 'b', TTL, 1_700)).toBe(true);
    // b stops renewing (it died): its lock lapses after TTL.
    expect(await issueOps.lockRequest('acme/fleets', 7, 'a', TTL, 1_700 + TTL - 1)).toBe(false);
    expect(await issueOps.lockRequest('acme/fleets', 7, 'a', TTL, 1_700 + TTL)).toBe(true);
  });

  it('of many concurrent request locks, exactly one is taken', async () => {
    const holders = Array.from({ length: 20 }, (_, index) => `replica-${index}`);
    const taken = await Promise.all(holders.map((holder) => store().issueOps.lockRequest('acme/fleets', 9, holder, TTL, 0)));
    expect(taken.filter(Boolean)).toHaveLength(1);
  });
});
