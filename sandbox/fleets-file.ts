import { readFileSync, writeFileSync } from 'node:fs';
import { isScalar, isSeq, parseDocument } from 'yaml';
import { parseFleetsFile } from '../src/fleets/file.js';
import type { FleetSpec } from '../src/fleets/spec.js';
import type { SandboxNetwork } from './aws-resources.js';

/** The example fleets file as the README shows it: the sandbox runs exactly this, bar the network ids. */
export interface ExampleFleets {
  file: string;
  text: string;
  fleets: FleetSpec[];
}

export function readExampleFleets(file: string): ExampleFleets {
  const text = readFileSync(file, 'utf8');
  return { file, text, fleets: parseFleetsFile(text, file).fleets };
}

/**
 * Writes the example with every fleet's subnet and security group ids replaced by the ones made in moto.
 * The ids are spliced into the original text, so everything else (comments, layout) stays byte for byte
 * what a user would copy.
 */
export function writeSandboxFleets(example: ExampleFleets, network: SandboxNetwork, target: string): void {
  const document = parseDocument(example.text);
  const replacements: { start: number; end: number; id: string }[] = [];
  example.fleets.forEach((_fleet, index) => {
    for (const [key, id] of [
      ['subnets', network.subnetId],
      ['securityGroups', network.securityGroupId],
    ] as const) {
      const list = document.getIn(['fleets', index, 'compute', key], true);
      if (!isSeq(list)) continue;
      for (const item of list.items) {
        if (isScalar(item) && item.range) replacements.push({ start: item.range[0], end: item.range[1], id });
      }
    }
  });
  let text = example.text;
  for (const { start, end, id } of replacements.sort((a, b) => b.start - a.start)) {
    text = `${text.slice(0, start)}${id}${text.slice(end)}`;
  }
  // Fail here, naming the file, rather than in the app's start-up.
  parseFleetsFile(text, target);
  writeFileSync(target, text);
}
