/**
 * gateways: makes a CNI result's route gateways explicit for CHECK.
 *
 * host-local returns flannel's routes (one per FLANNEL_NETWORK) without a gateway, and the bridge
 * installs each via the interface's gateway (`ip route` shows `10.244.0.0/16 via 10.244.1.1`). The
 * bridge's CHECK in containernetworking/plugins before 1.3.0 — Debian bookworm ships 1.1.1 — then
 * looks for a route with no gateway, finds none and fails every healthy pod ("Expected Route ...
 * GW:<nil> not found in routing table", fixed upstream in plugins PR #887). Giving each such route
 * the gateway of its address family, which is what was installed, makes CHECK pass with both the
 * old and the fixed plugins while still catching a missing route or address.
 */

type JsonMap = Record<string, unknown>;

function family(addr: string): 4 | 6 {
  return addr.includes(':') ? 6 : 4;
}

/** withRouteGateways returns a copy of `result` whose gateway-less routes carry their family's gateway. */
export function withRouteGateways(result: unknown): unknown {
  if (result === null || typeof result !== 'object' || Array.isArray(result)) return result;
  const r = result as JsonMap;
  if (!Array.isArray(r.routes) || !Array.isArray(r.ips)) return result;
  const gw: Partial<Record<4 | 6, string>> = {};
  for (const ip of r.ips as JsonMap[]) {
    if (ip && typeof ip.address === 'string' && typeof ip.gateway === 'string' && ip.gateway !== '') {
      const f = family(ip.address);
      gw[f] ??= ip.gateway;
    }
  }
  const routes = (r.routes as JsonMap[]).map((rt) => {
    if (!rt || typeof rt.dst !== 'string' || (typeof rt.gw === 'string' && rt.gw !== '')) return rt;
    const g = gw[family(rt.dst)];
    return g ? { ...rt, gw: g } : rt;
  });
  return { ...r, routes };
}
