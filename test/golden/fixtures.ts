/**
 * Paths and helpers for the kernel golden fixtures in test/fixtures (see its README.md).
 * Tests run from dist/test/..., so paths are resolved from the repository root.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readPcapFile, type PcapFile } from '../../src/pcap/pcap-file';

/** REPO_ROOT is the repository root (tests run compiled from dist/test/<dir>/). */
export const REPO_ROOT = resolve(__dirname, '..', '..', '..');
/** FIXTURES is test/fixtures. */
export const FIXTURES = join(REPO_ROOT, 'test', 'fixtures');
/** WEFT is the CLI entry point. */
export const WEFT = join(REPO_ROOT, 'bin', 'weft');

/** fixture reads test/fixtures/NAME. */
export function fixture(name: string): PcapFile {
  return readPcapFile(join(FIXTURES, name));
}

/** tempDir makes a fresh directory and returns it with a cleanup function. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `weft-pcap-${process.pid}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** weft runs the CLI synchronously and returns status, stdout and stderr. */
export function weft(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [WEFT, ...args], { encoding: 'utf8', env });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * tshark runs tshark with checksum verification on and VXLAN decoding for 8472 (tshark only
 * decodes 4789 as VXLAN by default); throws when tshark is missing, since CI installs it.
 */
export function tshark(args: string[]): string {
  const r = spawnSync(
    'tshark',
    [
      '-n',
      '-d', 'udp.port==8472,vxlan',
      '-o', 'ip.check_checksum:TRUE',
      '-o', 'udp.check_checksum:TRUE',
      '-o', 'tcp.check_checksum:TRUE',
      ...args,
    ], // prettier-ignore
    { encoding: 'utf8' },
  );
  if (r.error) throw new Error(`tshark could not run (apt-get install tshark): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`tshark ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** tsharkProblems lists the frames tshark flags as malformed or with an expert warning/error. */
export function tsharkProblems(file: string): string[] {
  const out = tshark(['-r', file, '-Y', '_ws.malformed || _ws.expert.severity >= warning']);
  return out.split('\n').filter((l) => l.trim() !== '');
}
