/**
 * vtep-state: keeps this node's VTEP MAC stable across restarts. flannel gets that by reusing the
 * existing flannel.<VNI> device, which keeps its MAC; weft's TUN device disappears with the
 * process, so the MAC is persisted instead, in `--vtep-state-dir`, one small file per device and
 * public IP (`vtep-flannel.1-192.0.2.1.mac`), written atomically (temp file + rename).
 * Peers cache the MAC in static neighbour/FDB entries; a new MAC after every restart would leave
 * them sending to a stale one until they saw the new lease (flannel issues #1788, #1795).
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { normalizeMac } from '../control/lease';
import { ConfigError } from '../errors';
import { bufferToMac } from '../net/addr';

/** randomVtepMac returns a random locally administered unicast MAC, as flannel's pkg/mac does. */
export function randomVtepMac(): Buffer {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return b;
}

/** randomLocalMac is randomVtepMac as `aa:bb:cc:dd:ee:ff` text. */
export function randomLocalMac(): string {
  return bufferToMac(randomVtepMac());
}

/** vtepStateFile names the state file for device `dev` advertised at `publicIp`. */
export function vtepStateFile(dir: string, dev: string, publicIp: string): string {
  return path.join(dir, `vtep-${dev}-${publicIp}.mac`);
}

/**
 * loadOrCreateVtepMac returns the persisted MAC for (dev, publicIp), or creates, persists and
 * returns a new random one. `created` tells which happened. A corrupt file is replaced.
 */
export async function loadOrCreateVtepMac(
  dir: string,
  dev: string,
  publicIp: string,
): Promise<{ mac: string; created: boolean; file: string }> {
  const file = vtepStateFile(dir, dev, publicIp);
  try {
    return await loadOrCreate(dir, file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new ConfigError(
      '--vtep-state-dir',
      'must be a directory weft can create and write',
      `${file}: ${code}`,
    );
  }
}

async function loadOrCreate(
  dir: string,
  file: string,
): Promise<{ mac: string; created: boolean; file: string }> {
  try {
    const mac = normalizeMac((await fsp.readFile(file, 'utf8')).trim());
    if (mac !== null && (parseInt(mac.slice(0, 2), 16) & 1) === 0) return { mac, created: false, file };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const mac = randomLocalMac();
  await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await fsp.writeFile(tmp, mac + '\n', { mode: 0o644 });
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.unlink(tmp).catch(() => undefined);
    throw e;
  }
  return { mac, created: true, file };
}
