import { crc32, deflateRawSync } from 'node:zlib';

/**
 * A minimal zip writer for the Lambda package: Terraform has no archive provider offline, and a zip
 * written here is reproducible (fixed timestamps, sorted entries), so the same build gives the same
 * source hash and Terraform changes no function.
 */

export interface ZipEntry {
  /** Forward slashes, relative: `dist/src/lambda.js`. */
  path: string;
  data: Buffer;
  /** Unix permission bits; executables keep theirs (node_modules/.bin). */
  mode: number;
}

// 1980-01-01 00:00, the earliest time a zip can hold.
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;
const VERSION_MADE_BY_UNIX = (3 << 8) | 20;
const VERSION_NEEDED = 20;
const DEFLATE = 8;
const STORE = 0;
const UTF8_NAMES = 1 << 11;
const ZIP32_LIMIT = 0xffff_ffff;

function localHeader(name: Buffer, method: number, crc: number, compressed: number, size: number): Buffer {
  const header = Buffer.alloc(30);
  header.writeUInt32LE(0x04034b50, 0);
  header.writeUInt16LE(VERSION_NEEDED, 4);
  header.writeUInt16LE(UTF8_NAMES, 6);
  header.writeUInt16LE(method, 8);
  header.writeUInt16LE(DOS_TIME, 10);
  header.writeUInt16LE(DOS_DATE, 12);
  header.writeUInt32LE(crc, 14);
  header.writeUInt32LE(compressed, 18);
  header.writeUInt32LE(size, 22);
  header.writeUInt16LE(name.length, 26);
  return Buffer.concat([header, name]);
}

interface Written {
  name: Buffer;
  method: number;
  crc: number;
  compressed: number;
  size: number;
  mode: number;
  offset: number;
}

function centralHeader(entry: Written): Buffer {
  const header = Buffer.alloc(46);
  header.writeUInt32LE(0x02014b50, 0);
  header.writeUInt16LE(VERSION_MADE_BY_UNIX, 4);
  header.writeUInt16LE(VERSION_NEEDED, 6);
  header.writeUInt16LE(UTF8_NAMES, 8);
  header.writeUInt16LE(entry.method, 10);
  header.writeUInt16LE(DOS_TIME, 12);
  header.writeUInt16LE(DOS_DATE, 14);
  header.writeUInt32LE(entry.crc, 16);
  header.writeUInt32LE(entry.compressed, 20);
  header.writeUInt32LE(entry.size, 24);
  header.writeUInt16LE(entry.name.length, 28);
  // Regular file with its permission bits, in the high half of the external attributes.
  header.writeUInt32LE(((0o100000 | (entry.mode & 0o777)) << 16) >>> 0, 38);
  header.writeUInt32LE(entry.offset, 42);
  return Buffer.concat([header, entry.name]);
}

function endOfCentralDirectory(count: number, size: number, offset: number): Buffer {
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(count, 8);
  end.writeUInt16LE(count, 10);
  end.writeUInt32LE(size, 12);
  end.writeUInt32LE(offset, 16);
  return end;
}

/** The zip of `entries`, in path order, deflated unless that makes an entry larger. Throws past zip32's limits. */
export function zip(entries: readonly ZipEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  if (sorted.length > 0xffff) throw new Error(`too many files for a zip without zip64: ${sorted.length}`);
  const parts: Buffer[] = [];
  const written: Written[] = [];
  let offset = 0;
  for (const entry of sorted) {
    const deflated = deflateRawSync(entry.data, { level: 9 });
    const method = deflated.length < entry.data.length ? DEFLATE : STORE;
    const body = method === DEFLATE ? deflated : entry.data;
    const name = Buffer.from(entry.path, 'utf8');
    const record = { name, method, crc: crc32(entry.data), compressed: body.length, size: entry.data.length, mode: entry.mode, offset };
    const header = localHeader(name, method, record.crc, record.compressed, record.size);
    parts.push(header, body);
    written.push(record);
    offset += header.length + body.length;
    if (offset > ZIP32_LIMIT) throw new Error('the package is larger than a zip without zip64 can hold (4 GiB)');
  }
  const central = written.map(centralHeader);
  const centralSize = central.reduce((total, header) => total + header.length, 0);
  return Buffer.concat([...parts, ...central, endOfCentralDirectory(written.length, centralSize, offset)]);
}
