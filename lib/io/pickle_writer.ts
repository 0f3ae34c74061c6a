// Writing a protocol-2 pickle with only the opcodes torch.load(weights_only=True) reads on PyTorch 1.13
// (its _weights_only_unpickler) — plus BINFLOAT, which 1.13's list lacks and 2.x has (there is no other
// way to write a Python float).

export class PickleWriter {
  private readonly chunks: Buffer[] = [];

  private op(...bytes: number[]): this {
    this.chunks.push(Buffer.from(bytes));
    return this;
  }
  proto(): this {
    return this.op(0x80, 2);
  }
  stop(): this {
    return this.op(0x2e);
  }
  mark(): this {
    return this.op(0x28);
  }
  none(): this {
    return this.op(0x4e);
  }
  bool(v: boolean): this {
    return this.op(v ? 0x88 : 0x89);
  }
  emptyTuple(): this {
    return this.op(0x29);
  }
  tuple(): this {
    return this.op(0x74);
  } // the items since the last mark
  emptyList(): this {
    return this.op(0x5d);
  }
  appends(): this {
    return this.op(0x65);
  }
  emptyDict(): this {
    return this.op(0x7d);
  }
  setItems(): this {
    return this.op(0x75);
  }
  reduce(): this {
    return this.op(0x52);
  }
  binPersId(): this {
    return this.op(0x51);
  }

  global(module: string, name: string): this {
    this.chunks.push(Buffer.from(`c${module}\n${name}\n`, 'utf8'));
    return this;
  }
  string(s: string): this {
    const body = utf8SurrogatePass(s);
    const head = Buffer.alloc(5);
    head[0] = 0x58; // BINUNICODE
    head.writeUInt32LE(body.length, 1);
    this.chunks.push(head, body);
    return this;
  }
  int(v: number | bigint): this {
    if (typeof v === 'number' && v >= 0 && v < 256) return this.op(0x4b, v); // BININT1
    if (typeof v === 'number' && v >= 0 && v < 65536) return this.op(0x4d, v & 0xff, v >> 8); // BININT2
    if (typeof v === 'number' && v >= -0x80000000 && v <= 0x7fffffff) {
      const b = Buffer.alloc(5);
      b[0] = 0x4a; // BININT
      b.writeInt32LE(v, 1);
      this.chunks.push(b);
      return this;
    }
    return this.long(BigInt(v));
  }
  /** LONG1: little-endian two's complement, as few bytes as hold the sign. */
  private long(v: bigint): this {
    const bytes: number[] = [];
    let x = v;
    for (;;) {
      const byte = Number(BigInt.asUintN(8, x));
      bytes.push(byte);
      x >>= 8n;
      if ((x === 0n && !(byte & 0x80)) || (x === -1n && byte & 0x80)) break;
    }
    if (bytes.length > 255) throw new RangeError(`pickle: integer ${v} is too large`);
    return this.op(0x8a, bytes.length, ...bytes);
  }
  float(v: number): this {
    const b = Buffer.alloc(9);
    b[0] = 0x47; // BINFLOAT, big-endian double
    b.writeDoubleBE(v, 1);
    this.chunks.push(b);
    return this;
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** A lone UTF-16 surrogate: a code unit that a JS string may hold and UTF-8 cannot encode. */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * UTF-8, with each lone surrogate encoded as its own three bytes, as Python's pickle writes and reads a str
 * ('surrogatepass'): Buffer.from made them all U+FFFD, so that two dict keys '\uD800' and '\uDC00' became one
 * and a value was lost.
 */
function utf8SurrogatePass(s: string): Buffer {
  if (!LONE_SURROGATE.test(s)) return Buffer.from(s, 'utf8');
  const parts: Buffer[] = [];
  let rest = s;
  for (let m = LONE_SURROGATE.exec(rest); m; m = LONE_SURROGATE.exec(rest)) {
    const c = rest.charCodeAt(m.index);
    parts.push(Buffer.from(rest.slice(0, m.index), 'utf8'), Buffer.from([0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)]));
    rest = rest.slice(m.index + 1);
  }
  parts.push(Buffer.from(rest, 'utf8'));
  return Buffer.concat(parts);
}
