/**
 * The kernel's CPU in `weft bench`: /proc/stat and /proc/PID/stat parsing and the per-gigabit
 * arithmetic, from samples recorded on the bench machine (2 vCPUs, USER_HZ 100), and the row a
 * case's samples aggregate into, with the path CPU ratio to kernel VXLAN.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  diffProcStat,
  kernelCpu,
  parsePidStat,
  parseProcStat,
  perGbit,
  readProcStat,
  type KernelCpu,
} from '../../src/benchsuite/proc-stat';
import { addRatios, aggregateRow } from '../../src/benchsuite/aggregate';
import type { Sample } from '../../src/benchsuite/measure';
import { CPU_LEGEND, formatTable } from '../../src/benchsuite/report';

// Recorded 2026-12-05 around `dd if=/dev/zero bs=1M count=3000 | cat > /dev/null` (system-heavy).
const BEFORE = `cpu  1038231 627 247913 830746 5068 0 10203 1096 0 0
cpu0 514448 317 120555 425635 1046 0 4161 536 0 0
cpu1 523782 309 127357 405111 4021 0 6041 559 0 0
intr 22969463 0 0 0
ctxt 123456
`;
const AFTER = `cpu  1038281 627 248031 830746 5068 0 10214 1096 0 0
cpu0 514482 317 120600 425635 1046 0 4171 536 0 0
cpu1 523798 309 127430 405111 4021 0 6042 559 0 0
intr 22979463 0 0 0
`;

const close = (a: number, b: number, what: string): void =>
  assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} != ${b}`);

test('parseProcStat reads the cpu total and every core; fields an old kernel omits read 0', () => {
  const s = parseProcStat(BEFORE);
  assert.equal(s.cores.length, 2);
  assert.deepEqual(s.total, {
    user: 1038231, nice: 627, system: 247913, idle: 830746, iowait: 5068, irq: 0, softirq: 10203, steal: 1096,
  }); // prettier-ignore
  assert.equal(s.cores[1]!.softirq, 6041);
  // A 2.6.24-era line (7 fields: no steal) and a core numbered out of order.
  const old = parseProcStat('cpu  1 2 3 4 5 6 7\ncpu1 1 1 1 1 1 1 1\ncpu0 9 9 9 9 9 9 9\n');
  assert.equal(old.total.steal, 0);
  assert.equal(old.cores[0]!.user, 9);
  assert.equal(old.cores[1]!.user, 1);
  assert.throws(() => parseProcStat('intr 1 2 3\n'), /no "cpu" line/);
});

test('kernelCpu: system + irq + softirq over all cores, per core, in seconds', () => {
  const k = kernelCpu(diffProcStat(parseProcStat(BEFORE), parseProcStat(AFTER)), 100);
  // cpu0: system +45, softirq +10; cpu1: system +73, softirq +1.
  close(k.systemSeconds, 1.18, 'system');
  close(k.softirqSeconds, 0.11, 'softirq');
  close(k.irqSeconds, 0, 'irq');
  close(k.kernelSeconds, 1.29, 'kernel');
  close(k.perCoreKernelSeconds[0]!, 0.55, 'cpu0');
  close(k.perCoreKernelSeconds[1]!, 0.74, 'cpu1');
  close(k.userSeconds, 0.5, 'user'); // +34 +16
  close(k.elapsedCpuSeconds, 1.79, 'elapsed'); // both cores busy: ~0.9 s of wall time
  // The same delta at USER_HZ 250 is 2.5 times fewer seconds.
  close(kernelCpu(diffProcStat(parseProcStat(BEFORE), parseProcStat(AFTER)), 250).kernelSeconds, 0.516, 'hz');
  // Counters never run backwards in a delta (a CPU hot-unplugged and back reads as 0, not negative).
  const back = diffProcStat(parseProcStat(AFTER), parseProcStat(BEFORE));
  assert.equal(kernelCpu(back, 100).kernelSeconds, 0);
});

test('readProcStat reads this machine: one entry per online CPU, counters that only grow', () => {
  const a = readProcStat();
  let x = 0;
  for (let i = 0; i < 2e6; i++) x += Math.sqrt(i);
  const b = readProcStat();
  assert.ok(x > 0);
  assert.ok(a.cores.length >= 1);
  assert.equal(b.cores.length, a.cores.length);
  const d = kernelCpu(diffProcStat(a, b), 100);
  assert.ok(d.elapsedCpuSeconds >= 0 && d.kernelSeconds <= d.elapsedCpuSeconds);
});

test('parsePidStat takes utime and stime after the last parenthesis of the command name', () => {
  const pid1 =
    '1 (process_api) S 0 0 0 0 -1 4194560 94743 321952389 0 12505 701 5112 1039891 231448 10 -10 18 0';
  assert.deepEqual(parsePidStat(pid1), { utime: 701, stime: 5112 });
  const odd = '42 (a) b (c) R 1 42 42 0 -1 0 0 0 0 0 1234 567 0 0 20 0 1 0';
  assert.deepEqual(parsePidStat(odd), { utime: 1234, stime: 567 });
  assert.throws(() => parsePidStat('42 (x) R 1'), /short line/);
});

test('perGbit sums seconds and gigabits over runs; nothing received is no figure', () => {
  close(
    perGbit([
      { seconds: 1, gbit: 10 },
      { seconds: 3, gbit: 10 },
    ])!,
    0.2,
    'sum/sum',
  );
  assert.equal(perGbit([]), null);
  assert.equal(perGbit([{ seconds: 2, gbit: 0 }]), null);
});

function kernel(kernelSeconds: number, perCore: number[], user = 0.4): KernelCpu {
  return {
    kernelSeconds,
    systemSeconds: kernelSeconds * 0.8,
    softirqSeconds: kernelSeconds * 0.2,
    irqSeconds: 0,
    userSeconds: user,
    stealSeconds: 0,
    elapsedCpuSeconds: 2 * 4, // 2 cores, 4 s
    perCoreKernelSeconds: perCore,
  };
}

function sample(value: number, gbit: number, k: KernelCpu, tunnelCpu = 0, tunnelUser = 0): Sample {
  return {
    value,
    lossPct: 0,
    amount: gbit,
    cpuSeconds: tunnelCpu,
    tunnelUserSeconds: tunnelUser,
    kernel: k,
    rssMiB: tunnelCpu > 0 ? 60 : 0,
    rssStartMiB: tunnelCpu > 0 ? 59 : 0,
    rssEndMiB: tunnelCpu > 0 ? 60 : 0,
  };
}

test('aggregateRow: kernel VXLAN gets a kernel and a path CPU row; weft adds its user time; ratios', () => {
  // Kernel VXLAN: 40 Gbit in two TCP runs for 4 s of kernel CPU.
  const kRow = aggregateRow(1500, 'kernel', {
    tcp1: [sample(5, 20, kernel(2, [1.2, 0.8]))],
    tcp4: [sample(5, 20, kernel(2, [1, 1]))],
    udp64: [sample(300_000, 0, kernel(3, [1.5, 1.5]))],
  });
  close(kRow.kernelCpuSecPerGbit!, 0.1, 'kernel: kernel CPU');
  close(kRow.pathCpuSecPerGbit!, 0.1, 'kernel: path = kernel (no tunnel)');
  assert.equal(kRow.cpuSecPerGbit, null, 'no tunnel process');
  assert.equal(kRow.kernelCpuSecPerGbitPerCore!.length, 2);
  close(kRow.kernelCpuSecPerGbitPerCore![0]!, 0.055, 'cpu0');
  close(kRow.kernelCpuSecPerGbitPerCore![1]!, 0.045, 'cpu1');
  close(kRow.machineUserCores!, 0.1, 'user cores'); // 0.8 s user over 8 s of wall time
  // weft: 20 Gbit; 3 s of machine kernel CPU (its stime inside), 2.5 s tunnel CPU of which 1 s user.
  const wRow = aggregateRow(1500, 'weft-batch', {
    tcp1: [sample(2, 10, kernel(1.5, [0.75, 0.75]), 1.25, 0.5)],
    tcp4: [
      sample(2, 10, kernel(1.5, [0.75, 0.75]), 1.25, 0.5),
      { ...sample(NaN, 0, kernel(9, [9, 0])), error: 'x' },
    ],
    udp64: [sample(150_000, 0, kernel(3, [1.5, 1.5]), 2, 1)],
  });
  close(wRow.cpuSecPerGbit!, 0.125, 'weft: tunnel');
  close(wRow.kernelCpuSecPerGbit!, 0.15, 'weft: kernel (the failed run is left out)');
  close(wRow.pathCpuSecPerGbit!, 0.2, 'weft: path = (3 + 1) / 20');
  assert.deepEqual(wRow.errors, ['x']);
  const rows = [kRow, wRow];
  addRatios(rows);
  close(wRow.ratioPathCpu!, 2, 'path CPU x kernel');
  close(kRow.ratioPathCpu!, 1, 'kernel x kernel');
  close(wRow.ratioUdp, 0.5, 'udp');
  const table = formatTable(rows);
  assert.match(table, /tunnel CPU s\/Gbit \| kernel CPU s\/Gbit \| path CPU s\/Gbit \| x kernel/);
  assert.match(table, /\| weft VXLAN \(batch\) \|.*\| 0\.125 \| 0\.150 \| 0\.200 \| 2\.00 \| 60 \|/);
  assert.match(table, /\| kernel VXLAN \|.*\| - \| 0\.100 \| 0\.100 \| 1\.00 \| - \|/);
  assert.match(CPU_LEGEND, /system \+ irq \+ softirq/);
});
