// One peak-memory measurement, in a fresh process (run by bench.mjs): the rise of the resident set's high-water
// mark during one call of the operation, after a warm-up call. glibc's mmap threshold is pinned by the parent
// (GLIBC_TUNABLES) so that large blocks go back to the system when freed and every call faults its own pages in.
import * as fs from 'node:fs';
import { grnewt, workload } from './bench-setup.mjs';

const [modelName, dtype, op, batch] = process.argv.slice(2);
grnewt.setNumThreads(1);
const run = workload(modelName, dtype, Number(batch)).ops[op];
run();
const status = () => Object.fromEntries(fs.readFileSync('/proc/self/status', 'utf8').split('\n').map((l) => l.split(':')).filter((p) => p.length === 2).map(([k, v]) => [k, parseInt(v, 10) * 1024]));
const before = status().VmRSS;
fs.writeFileSync('/proc/self/clear_refs', '5'); // resets VmHWM to the current RSS
run();
console.log(JSON.stringify({ peakBytes: status().VmHWM - before }));
