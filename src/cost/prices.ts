/**
 * AWS list prices (US dollars, Linux, x86, on-demand unless named spot) for the regions fleetbot's
 * README uses. They are not fetched: the app may run where the Price List API is not reachable, and a
 * cost estimate must not depend on it. They are list prices as published on the pages in `PRICE_SOURCES`
 * as of `PRICES_AS_OF`, written on an offline machine and so not re-checked against the live pages;
 * discounts (Savings Plans, reserved instances, enterprise agreements) are not in them. A fleet whose
 * price differs, or is missing here, sets `pricing` in the fleets file.
 */

export const PRICES_AS_OF = '2025-01-15';

export const PRICE_SOURCES = {
  fargate: 'https://aws.amazon.com/fargate/pricing/',
  ec2OnDemand: 'https://aws.amazon.com/ec2/pricing/on-demand/',
} as const;

export interface FargateRates {
  vcpuHourDollars: number;
  gbHourDollars: number;
}

export interface RegionPrices {
  fargate: FargateRates;
  /**
   * Fargate Spot's rates move with spare capacity (AWS publishes no fixed figure); these are the page's at
   * `PRICES_AS_OF`. Absent: a Fargate Spot task is priced as on-demand, an upper bound.
   */
  fargateSpot?: FargateRates;
  /** On-demand hourly price by instance type. An EC2 spot runner is priced at the spot price seen at its launch. */
  ec2OnDemandHourly: Readonly<Record<string, number>>;
}

export const PRICES: Readonly<Record<string, RegionPrices>> = {
  'us-east-1': {
    fargate: { vcpuHourDollars: 0.04048, gbHourDollars: 0.004445 },
    fargateSpot: { vcpuHourDollars: 0.01334053, gbHourDollars: 0.00146489 },
    ec2OnDemandHourly: {
      't3.medium': 0.0416,
      't3.large': 0.0832,
      't3.xlarge': 0.1664,
      'm5.large': 0.096,
      'm5.xlarge': 0.192,
      'm5.2xlarge': 0.384,
      'm6i.large': 0.096,
      'm6i.xlarge': 0.192,
      'm6i.2xlarge': 0.384,
      'm7i.large': 0.1008,
      'm7i.xlarge': 0.2016,
      'm7i.2xlarge': 0.4032,
      'c5.large': 0.085,
      'c5.xlarge': 0.17,
      'c6i.large': 0.085,
      'c6i.xlarge': 0.17,
      'c7i.large': 0.08925,
      'c7i.xlarge': 0.1785,
    },
  },
  'eu-west-1': {
    fargate: { vcpuHourDollars: 0.04456, gbHourDollars: 0.004865 },
    ec2OnDemandHourly: {
      't3.medium': 0.0456,
      't3.large': 0.0912,
      'm5.large': 0.107,
      'm5.xlarge': 0.214,
      'm6i.large': 0.107,
      'm6i.xlarge': 0.214,
      'c5.large': 0.096,
      'c6i.large': 0.096,
    },
  },
};

/** The region a fleet is priced in when neither it (`provision.region`) nor the app (`AWS_REGION`) names one. */
export const DEFAULT_PRICE_REGION = 'us-east-1';
