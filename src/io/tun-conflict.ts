/**
 * tun-conflict: why TUNSETIFF refused a name. The kernel answers EINVAL when the name is taken by
 * a device that is not a TUN device (a veth, a kernel flannel.1 VXLAN device, a TAP), which says
 * nothing to an operator; this reads what the device is, so the error can say what to do.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

/** IFF_TUN and IFF_TAP as /sys/class/net/NAME/tun_flags reports them (linux/if_tun.h). */
const IFF_TUN = 0x0001;
const IFF_TAP = 0x0002;

/**
 * nonTunDevice returns the kind of the existing device `name` when it is not a TUN device
 * (`vxlan`, `veth`, `tap`, or `network` when iproute2 does not say), else undefined: no such
 * device, or a TUN device (TUNSETIFF failed for another reason).
 */
export function nonTunDevice(name: string): string | undefined {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name) || !existsSync(`/sys/class/net/${name}`)) return undefined;
  try {
    const flags = Number(readFileSync(`/sys/class/net/${name}/tun_flags`, 'utf8').trim());
    if (flags & IFF_TUN) return undefined;
    if (flags & IFF_TAP) return 'tap';
  } catch {
    // No tun_flags: not a TUN/TAP device at all.
  }
  try {
    const out = execFileSync('ip', ['-j', '-d', 'link', 'show', 'dev', name], { encoding: 'utf8' });
    const kind = (JSON.parse(out) as Array<{ linkinfo?: { info_kind?: string } }>)[0]?.linkinfo?.info_kind;
    return kind ?? 'network';
  } catch {
    return 'network';
  }
}
