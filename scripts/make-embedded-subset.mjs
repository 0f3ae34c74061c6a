#!/usr/bin/env node
// Writes assets/fashion-mnist-subset/: the first 2000 training and 500 test examples of Fashion-MNIST, as
// gzip IDX files, from Debian's dataset-fashion-mnist. The package ships them so that `grnewt train` runs
// right after `npm install`. Run once by hand; the output is committed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

const source = '/usr/share/datasets/fashion-mnist';
const target = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'assets', 'fashion-mnist-subset');
const take = { train: 2000, t10k: 500 };

for (const [split, n] of Object.entries(take)) {
  for (const kind of ['images-idx3-ubyte', 'labels-idx1-ubyte']) {
    const raw = zlib.gunzipSync(fs.readFileSync(path.join(source, `${split}-${kind}.gz`)));
    const rank = raw[3];
    const header = Buffer.from(raw.subarray(0, 4 + 4 * rank));
    header.writeUInt32BE(n, 4);
    const itemBytes = rank === 3 ? raw.readUInt32BE(8) * raw.readUInt32BE(12) : 1;
    const body = raw.subarray(4 + 4 * rank, 4 + 4 * rank + n * itemBytes);
    fs.writeFileSync(path.join(target, `${split}-${kind}.gz`), zlib.gzipSync(Buffer.concat([header, body]), { level: 9 }));
  }
}
console.log(`wrote ${target}`);
