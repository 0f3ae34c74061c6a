// A restricted Python unpickler: it builds plain JS values from a pickle (protocols 0–5, the opcodes that
// data pickles use) and never looks a global up by itself. Every GLOBAL/STACK_GLOBAL goes through the
// caller's `resolveGlobal`, which knows a short list of names; anything else is refused before the pickle
// can use it, so a pickle that asks for os.system or builtins.eval is an error and nothing is executed.
//
// Python values → JS: None → null, bool → boolean, int → number (bigint beyond 2^53), float → number,
// str → string, bytes → Uint8Array, list and tuple → array, dict → object (keys as strings, in order).

/** A Python global the caller allows: what calling it (REDUCE), instantiating it (NEWOBJ) or BUILD does. */
export interface PickleGlobal {
  /** module.name, for messages. */
  readonly name: string;
  call?(args: unknown[]): unknown;
  newObj?(args: unknown[]): unknown;
}

export interface UnpickleHooks {
  /** The global `module.name`, or undefined to refuse it. */
  resolveGlobal(module: string, name: string): PickleGlobal | undefined;
  /** What a persistent id (BINPERSID/PERSID) stands for. */
  persistentLoad(pid: unknown): unknown;
  /** BUILD on `instance` (made by an allowed global): apply `state` or throw. */
  build?(instance: unknown, state: unknown): void;
}

/** The pickle's value; `where` prefixes every error ("loadTorch: model.pt"). */
export function unpickle(bytes: Uint8Array, hooks: UnpickleHooks, where: string): unknown {
  return new Unpickler(bytes, hooks, where).run();
}

const dicts = new WeakSet<object>();

/** A JS object standing for a Python dict (SETITEM works on it): for globals that make dicts (OrderedDict). */
export function newDict(): Record<string, unknown> {
  const d = {};
  dicts.add(d);
  return d;
}

/** A JS object made from a Python dict: its keys are set as own data properties (never via a setter). */
export function setKey(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

// ignoreBOM: a str that starts with U+FEFF keeps it (the decoder dropped it: '\uFEFFkey' came back 'key').
const textDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * UTF-8 as Python's pickle reads a str ('surrogatepass'): a lone surrogate's three bytes (ED A0–BF 80–BF) are
 * that code unit, which a JS string holds too; anything else that is not UTF-8 throws.
 */
function decodeSurrogatePass(b: Uint8Array): string {
  try {
    return textDecoder.decode(b);
  } catch (err) {
    let out = '';
    let start = 0;
    for (let i = 0; i + 2 < b.length; i++) {
      if (b[i] !== 0xed || b[i + 1] < 0xa0 || b[i + 1] > 0xbf || (b[i + 2] & 0xc0) !== 0x80) continue;
      out += textDecoder.decode(b.subarray(start, i)) + String.fromCharCode(0xd000 | ((b[i + 1] & 0x3f) << 6) | (b[i + 2] & 0x3f));
      start = i + 3;
      i += 2;
    }
    if (start === 0) throw err;
    return out + textDecoder.decode(b.subarray(start));
  }
}

class Unpickler {
  private pos = 0;
  private stack: unknown[] = [];
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, unknown>();
  private readonly view: DataView;
  private readonly lists = new WeakSet<object>(); // mutable Python lists (tuples are frozen arrays)

  constructor(
    private readonly bytes: Uint8Array,
    private readonly hooks: UnpickleHooks,
    private readonly where: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private fail(why: string): Error {
    return new Error(`${this.where}: ${why}`);
  }

  private need(n: number): number {
    if (!Number.isSafeInteger(n) || n < 0 || this.pos + n > this.bytes.length) {
      throw this.fail(`the pickle is truncated or corrupt: ${n} bytes needed at byte ${this.pos} of ${this.bytes.length}`);
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }
  private u8(): number {
    return this.bytes[this.need(1)];
  }
  private u16(): number {
    return this.view.getUint16(this.need(2), true);
  }
  private u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  private u64(): number {
    const at = this.need(8);
    const v = this.view.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.fail(`a length of ${v} bytes at byte ${at} is larger than the pickle`);
    return Number(v);
  }
  private take(n: number): Uint8Array {
    const at = this.need(n);
    return this.bytes.subarray(at, at + n);
  }
  private line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) throw this.fail(`the pickle is truncated: a text line at byte ${this.pos} has no end`);
    const text = new TextDecoder('latin1').decode(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return text;
  }
  private utf8(b: Uint8Array): string {
    try {
      return decodeSurrogatePass(b);
    } catch {
      throw this.fail(`a string at byte ${this.pos - b.length} is not valid UTF-8`);
    }
  }

  private push(v: unknown): void {
    this.stack.push(v);
  }
  private pop(): unknown {
    if (this.stack.length === 0 || (this.marks.length && this.stack.length <= this.marks[this.marks.length - 1])) {
      throw this.fail(`the pickle pops an empty stack at byte ${this.pos - 1}`);
    }
    return this.stack.pop();
  }
  private top(): unknown {
    const v = this.pop();
    this.stack.push(v);
    return v;
  }
  private popMark(): unknown[] {
    const m = this.marks.pop();
    if (m === undefined) throw this.fail(`the pickle closes a MARK it never opened at byte ${this.pos - 1}`);
    return this.stack.splice(m);
  }

  private newDict(): Record<string, unknown> {
    return newDict();
  }
  private newList(items: unknown[] = []): unknown[] {
    this.lists.add(items);
    return items;
  }
  private tuple(items: unknown[]): unknown[] {
    return items; // an array not in `lists`: APPEND refuses it, as Python refuses to append to a tuple
  }
  private dictKey(k: unknown): string {
    if (typeof k === 'string') return k;
    if (typeof k === 'number' && Number.isInteger(k)) return String(k);
    if (typeof k === 'bigint') return k.toString();
    if (typeof k === 'boolean') return k ? 'True' : 'False';
    throw this.fail(`a dict key is ${describe(k)}: only str and int keys can become JS object keys`);
  }
  private setItems(target: unknown, items: unknown[]): void {
    if (target === null || typeof target !== 'object' || !dicts.has(target)) {
      throw this.fail(`SETITEM(S) on ${describe(target)}, which is not a dict`);
    }
    for (let i = 0; i + 1 < items.length; i += 2) setKey(target, this.dictKey(items[i]), items[i + 1]);
    if (items.length % 2) throw this.fail('SETITEMS with an odd number of items');
  }
  private appendItems(target: unknown, items: unknown[]): void {
    if (!Array.isArray(target) || !this.lists.has(target)) throw this.fail(`APPEND(S) on ${describe(target)}, which is not a list`);
    for (const item of items) target.push(item);
  }
  private global(module: string, name: string): PickleGlobal {
    const g = this.hooks.resolveGlobal(module, name);
    if (!g)
      throw this.fail(
        `the pickle asks for the Python global ${module}.${name}, which a weights-only load does not allow; nothing was executed`,
      );
    return g;
  }
  private callable(v: unknown, opcode: string): PickleGlobal {
    if (!(v instanceof Object) || !globalsSeen.has(v)) throw this.fail(`${opcode} on ${describe(v)}, which is not an allowed global`);
    return v as PickleGlobal;
  }
  private args(v: unknown, opcode: string): unknown[] {
    if (!Array.isArray(v)) throw this.fail(`${opcode} with arguments ${describe(v)}, not a tuple`);
    return v;
  }
  private memoIndex(i: number): unknown {
    if (!this.memo.has(i)) throw this.fail(`the pickle reads memo entry ${i}, which was never stored`);
    return this.memo.get(i);
  }
  private int(digits: string): number | bigint | boolean {
    if (digits === '00') return false;
    if (digits === '01') return true;
    const t = digits.endsWith('L') ? digits.slice(0, -1) : digits;
    if (!/^[-+]?\d+$/.test(t)) throw this.fail(`INT/LONG with text ${JSON.stringify(digits)}`);
    return smallest(BigInt(t));
  }

  run(): unknown {
    const n = this.bytes.length;
    while (this.pos < n) {
      const at = this.pos;
      const op = this.u8();
      switch (op) {
        case 0x80: {
          // PROTO
          const proto = this.u8();
          if (proto > 5) throw this.fail(`pickle protocol ${proto} is newer than 5`);
          break;
        }
        case 0x95:
          this.need(8);
          break; // FRAME: a length hint only, the data follows inline
        case 0x2e: {
          // STOP
          const v = this.pop();
          if (this.stack.length || this.marks.length) throw this.fail('the pickle stops with values left on its stack');
          return v;
        }
        case 0x28:
          this.marks.push(this.stack.length);
          break; // MARK
        case 0x30:
          this.pop();
          break; // POP
        case 0x31:
          this.popMark();
          break; // POP_MARK
        case 0x32:
          this.push(this.top());
          break; // DUP
        case 0x4e:
          this.push(null);
          break; // NONE
        case 0x88:
          this.push(true);
          break; // NEWTRUE
        case 0x89:
          this.push(false);
          break; // NEWFALSE
        case 0x4a:
          this.push(this.view.getInt32(this.need(4), true));
          break; // BININT
        case 0x4b:
          this.push(this.u8());
          break; // BININT1
        case 0x4d:
          this.push(this.u16());
          break; // BININT2
        case 0x8a:
          this.push(decodeLong(this.take(this.u8())));
          break; // LONG1
        case 0x8b: {
          // LONG4
          const len = this.view.getInt32(this.need(4), true);
          if (len < 0) throw this.fail(`LONG4 with a negative length at byte ${at}`);
          this.push(decodeLong(this.take(len)));
          break;
        }
        case 0x49:
          this.push(this.int(this.line()));
          break; // INT
        case 0x4c:
          this.push(this.int(this.line()));
          break; // LONG
        case 0x47:
          this.push(this.view.getFloat64(this.need(8), false));
          break; // BINFLOAT (big-endian)
        case 0x46: {
          // FLOAT
          const text = this.line();
          const v = Number(text);
          if (text.trim() === '' || (Number.isNaN(v) && !/^[-+]?nan$/i.test(text.trim())))
            throw this.fail(`FLOAT with text ${JSON.stringify(text)}`);
          this.push(v);
          break;
        }
        case 0x58:
          this.push(this.utf8(this.take(this.u32())));
          break; // BINUNICODE
        case 0x8c:
          this.push(this.utf8(this.take(this.u8())));
          break; // SHORT_BINUNICODE
        case 0x8d:
          this.push(this.utf8(this.take(this.u64())));
          break; // BINUNICODE8
        case 0x54: {
          // BINSTRING (Python 2 str: read as latin-1 text)
          const len = this.view.getInt32(this.need(4), true);
          if (len < 0) throw this.fail(`BINSTRING with a negative length at byte ${at}`);
          this.push(new TextDecoder('latin1').decode(this.take(len)));
          break;
        }
        case 0x55:
          this.push(new TextDecoder('latin1').decode(this.take(this.u8())));
          break; // SHORT_BINSTRING
        case 0x42:
          this.push(this.take(this.u32()).slice());
          break; // BINBYTES
        case 0x43:
          this.push(this.take(this.u8()).slice());
          break; // SHORT_BINBYTES
        case 0x8e:
          this.push(this.take(this.u64()).slice());
          break; // BINBYTES8
        case 0x5d:
          this.push(this.newList());
          break; // EMPTY_LIST
        case 0x6c:
          this.push(this.newList(this.popMark()));
          break; // LIST
        case 0x61: {
          // APPEND
          const item = this.pop();
          this.appendItems(this.top(), [item]);
          break;
        }
        case 0x65: {
          // APPENDS
          const items = this.popMark();
          this.appendItems(this.top(), items);
          break;
        }
        case 0x29:
          this.push(this.tuple([]));
          break; // EMPTY_TUPLE
        case 0x74:
          this.push(this.tuple(this.popMark()));
          break; // TUPLE
        case 0x85:
          this.push(this.tuple([this.pop()]));
          break; // TUPLE1
        case 0x86: {
          // TUPLE2
          const b = this.pop(),
            a = this.pop();
          this.push(this.tuple([a, b]));
          break;
        }
        case 0x87: {
          // TUPLE3
          const c = this.pop(),
            b = this.pop(),
            a = this.pop();
          this.push(this.tuple([a, b, c]));
          break;
        }
        case 0x7d:
          this.push(this.newDict());
          break; // EMPTY_DICT
        case 0x64: {
          // DICT
          const items = this.popMark();
          const d = this.newDict();
          this.setItems(d, items);
          this.push(d);
          break;
        }
        case 0x73: {
          // SETITEM
          const v = this.pop(),
            k = this.pop();
          this.setItems(this.top(), [k, v]);
          break;
        }
        case 0x75: {
          // SETITEMS
          const items = this.popMark();
          this.setItems(this.top(), items);
          break;
        }
        case 0x63: {
          // GLOBAL
          const module = this.line();
          const name = this.line();
          this.push(remember(this.global(module, name)));
          break;
        }
        case 0x93: {
          // STACK_GLOBAL
          const name = this.pop(),
            module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string')
            throw this.fail('STACK_GLOBAL with a module or name that is not a str');
          this.push(remember(this.global(module, name)));
          break;
        }
        case 0x52: {
          // REDUCE
          const args = this.args(this.pop(), 'REDUCE');
          const f = this.callable(this.pop(), 'REDUCE');
          if (!f.call) throw this.fail(`the pickle calls ${f.name}, which a weights-only load does not allow`);
          this.push(f.call(args));
          break;
        }
        case 0x81: {
          // NEWOBJ
          const args = this.args(this.pop(), 'NEWOBJ');
          const cls = this.callable(this.pop(), 'NEWOBJ');
          if (!cls.newObj) throw this.fail(`the pickle instantiates ${cls.name}, which a weights-only load does not allow`);
          this.push(cls.newObj(args));
          break;
        }
        case 0x62: {
          // BUILD
          const state = this.pop();
          const instance = this.top();
          if (!this.hooks.build) throw this.fail(`BUILD on ${describe(instance)} is not allowed`);
          this.hooks.build(instance, state);
          break;
        }
        case 0x51:
          this.push(this.hooks.persistentLoad(this.pop()));
          break; // BINPERSID
        case 0x50:
          this.push(this.hooks.persistentLoad(this.line()));
          break; // PERSID
        case 0x70:
          this.memo.set(this.putIndex(this.line()), this.top());
          break; // PUT
        case 0x71:
          this.memo.set(this.u8(), this.top());
          break; // BINPUT
        case 0x72:
          this.memo.set(this.u32(), this.top());
          break; // LONG_BINPUT
        case 0x94:
          this.memo.set(this.memo.size, this.top());
          break; // MEMOIZE
        case 0x67:
          this.push(this.memoIndex(this.putIndex(this.line())));
          break; // GET
        case 0x68:
          this.push(this.memoIndex(this.u8()));
          break; // BINGET
        case 0x6a:
          this.push(this.memoIndex(this.u32()));
          break; // LONG_BINGET
        default:
          throw this.fail(
            `the pickle uses opcode 0x${op.toString(16).padStart(2, '0')} (${OPCODE_NAMES[op] ?? 'unknown'}) at byte ${at}, which this reader does not accept`,
          );
      }
    }
    throw this.fail('the pickle ends without STOP (truncated)');
  }

  private putIndex(text: string): number {
    if (!/^\d+$/.test(text)) throw this.fail(`PUT/GET with index ${JSON.stringify(text)}`);
    return Number(text);
  }
}

// Opcodes refused by name: they import by number (EXT*), build arbitrary classes (INST, OBJ, NEWOBJ_EX),
// or need out-of-band buffers and sets, which checkpoints do not hold.
const OPCODE_NAMES: Record<number, string> = {
  0x69: 'INST',
  0x6f: 'OBJ',
  0x92: 'NEWOBJ_EX',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS',
  0x91: 'FROZENSET',
  0x96: 'BYTEARRAY8',
  0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
  0x53: 'STRING',
  0x56: 'UNICODE',
};

// Globals handed out by resolveGlobal: REDUCE/NEWOBJ accept only these as callables.
const globalsSeen = new WeakSet<object>();
function remember(g: PickleGlobal): PickleGlobal {
  globalsSeen.add(g);
  return g;
}

/**
 * Python's little-endian two's-complement long → number when exact, else bigint. Through one hex string, which
 * BigInt parses in linear time: shifting a bigint in byte by byte was quadratic, and a crafted file of 320 KB
 * (one LONG4) took two minutes to load.
 */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  const v = BigInt(`0x${Buffer.from(b).reverse().toString('hex')}`);
  return smallest(b[b.length - 1] & 0x80 ? v - (1n << BigInt(8 * b.length)) : v);
}

function smallest(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'a list or tuple';
  if (v instanceof Uint8Array) return 'bytes';
  if (typeof v === 'object')
    return globalsSeen.has(v)
      ? `the global ${(v as PickleGlobal).name}`
      : Object.getPrototypeOf(v) === Object.prototype
        ? 'a dict'
        : `a ${v.constructor?.name ?? 'value'}`;
  return `a ${typeof v} (${String(v).slice(0, 40)})`;
}
