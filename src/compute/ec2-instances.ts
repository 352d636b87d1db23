import { DescribeInstancesCommand, type EC2Client, type Filter, type Instance } from '@aws-sdk/client-ec2';

/** What the EC2 and Auto Scaling backends both read of EC2 instances. */

// DescribeInstances takes at most 200 values per filter and returns at most 1000 instances per page.
export const FILTER_VALUES = 200;
const PAGE_SIZE = 1000;

export function tagValue(instance: Instance | undefined, key: string): string | undefined {
  return instance?.Tags?.find((tag) => tag.Key === key)?.Value;
}

export function chunks<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let start = 0; start < items.length; start += size) result.push(items.slice(start, start + size));
  return result;
}

/** Every instance matching the filters, all pages of them. */
export async function describeMatching(ec2: EC2Client, filters: Filter[]): Promise<Instance[]> {
  const instances: Instance[] = [];
  let nextToken: string | undefined;
  do {
    const page = await ec2.send(new DescribeInstancesCommand({ Filters: filters, MaxResults: PAGE_SIZE, NextToken: nextToken }));
    instances.push(...(page.Reservations ?? []).flatMap((reservation) => reservation.Instances ?? []));
    nextToken = page.NextToken;
  } while (nextToken);
  return instances;
}
