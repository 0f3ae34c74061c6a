// How many libtorch intra-op threads to train with, picked from the machine: one per physical core that
// other processes leave free. Threads beyond free cores are worse than useless: libtorch's workers spin
// and wait for each other, and on a shared 2-core machine 2 threads made an epoch many times slower than 1
// (README, "Threads").
import * as fs from 'node:fs';
import * as os from 'node:os';

export interface ThreadChoice {
  /** The thread count to use (≥ 1). */
  threads: number;
  /** Physical cores this process may use (hyperthread siblings counted once, cgroup CPU quota applied). */
  cores: number;
  /** The 1-minute load average: how many cores other processes kept busy lately. */
  busy: number;
  /** The choice in words, for logs. */
  reason: string;
}

/** The default thread count of `trainConfig()` and `grnewt train`: physical cores minus busy ones, at least 1. */
export function recommendedThreads(): ThreadChoice {
  return chooseThreads(physicalCores(), os.loadavg()[0]);
}

/** @internal The rule itself, for a given machine state. */
export function chooseThreads(cores: number, busy: number): ThreadChoice {
  const threads = Math.min(cores, Math.max(1, Math.round(cores - busy)));
  const reason =
    `${cores} physical core${cores === 1 ? '' : 's'}, load average ${busy.toFixed(1)}` +
    (threads === 1 && cores > 1 ? ': the other cores are busy, so 1 thread (more would wait on each other)' : '');
  return { threads, cores, busy, reason };
}

/** Physical cores: distinct (package, core) pairs of /proc/cpuinfo, capped by a cgroup CPU quota. */
function physicalCores(): number {
  const logical = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  let cores = logical;
  try {
    const pairs = new Set<string>();
    let pkg = '';
    for (const line of fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n')) {
      const [key, value] = line.split(':').map((s) => s.trim());
      if (key === 'physical id') pkg = value;
      else if (key === 'core id') pairs.add(`${pkg}/${value}`);
    }
    if (pairs.size > 0) cores = Math.min(logical, pairs.size);
  } catch {
    // not Linux, or /proc hidden: count logical CPUs
  }
  try {
    const [quota, period] = fs.readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    if (quota !== 'max') cores = Math.min(cores, Math.max(1, Math.floor(Number(quota) / Number(period))));
  } catch {
    // no cgroup v2 quota
  }
  return Math.max(1, cores);
}
