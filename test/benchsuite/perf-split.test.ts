/**
 * perf-split (bench/perf-split.ts): samples of `perf script -F pid,ip,sym,dso` are put under the
 * forwarding direction their stack shows and the first kind of work that matches; other processes'
 * samples only count in the file's total.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { classify, formatSplit, splitSamples } from '../../bench/perf-split';

const k = (sym: string): string => `\tffffffff81000000 ${sym} ([kernel.kallsyms])`;
const js = (name: string, file: string): string =>
  `\t7f0000000000 JS:*${name} /x/dist/src/${file}:1:1 (/tmp/perf-1.map)`;
const node = (sym: string): string => `\t14c05fb ${sym} (/usr/bin/node)`;
const EGRESS = [js('drain', 'dataplane/tun-send-loop.js'), node('uv__io_poll')];
const INGRESS = [js('drain', 'dataplane/socket-recv-loop.js'), node('uv__io_poll')];

function sample(pid: number, frames: string[]): string {
  return `${pid} \n${frames.join('\n')}\n`;
}

test('classify: direction from the loop on the stack, kind from the first rule that matches', () => {
  assert.deepEqual(classify([k('udp_sendmsg'), k('__sys_sendmmsg'), ...EGRESS]), {
    dir: 'egress',
    kind: 'sendmmsg',
  });
  assert.deepEqual(classify([k('_copy_to_iter'), k('tun_chr_read_iter'), k('do_readv'), ...EGRESS]), {
    dir: 'egress',
    kind: 'tun read',
  });
  // The TCP stack inside a TUN write: ACK sent, data transmitted, or receive work.
  const write = [
    k('netif_receive_skb'),
    k('tun_get_user'),
    k('tun_chr_write_iter'),
    k('io_write'),
    ...INGRESS,
  ];
  assert.deepEqual(classify([k('__tcp_transmit_skb'), k('tcp_send_ack'), k('tcp_v4_rcv'), ...write]), {
    dir: 'ingress',
    kind: 'tcp: ack-out',
  });
  assert.deepEqual(classify([k('tcp_write_xmit'), k('tcp_ack'), k('tcp_v4_rcv'), ...write]), {
    dir: 'ingress',
    kind: 'tcp: xmit',
  });
  assert.deepEqual(classify([k('tcp_clean_rtx_queue'), k('tcp_v4_rcv'), ...write]), {
    dir: 'ingress',
    kind: 'tcp: rcv',
  });
  assert.deepEqual(classify([k('skb_copy_datagram_from_iter'), ...write]), {
    dir: 'ingress',
    kind: 'tun write',
  });
  assert.deepEqual(classify([k('udp_recvmsg'), k('__sys_recvmmsg'), ...INGRESS]), {
    dir: 'ingress',
    kind: 'recvmmsg',
  });
  assert.deepEqual(classify([js('processBatch', 'dataplane/egress-offload.js'), ...EGRESS]), {
    dir: 'egress',
    kind: 'js',
  });
  assert.deepEqual(classify(['\t1957e weft::SumAvx2 (/x/weft_native.node)', ...INGRESS]), {
    dir: 'ingress',
    kind: 'native',
  });
  assert.deepEqual(classify([k('finish_task_switch.isra.0'), k('do_epoll_wait'), node('uv__io_poll')]), {
    dir: 'other',
    kind: 'kernel other',
  });
  assert.deepEqual(classify([node('v8::internal::compiler::GraphReducer::Reduce')]), {
    dir: 'other',
    kind: 'v8/node',
  });
});

test('splitSamples counts only the asked processes, and formatSplit turns samples into ms/Gbit', () => {
  const text = [
    sample(10, [k('__sys_sendmmsg'), ...EGRESS]),
    sample(10, [k('__sys_sendmmsg'), ...EGRESS]),
    sample(10, [k('__sys_recvmmsg'), ...INGRESS]),
    sample(20, [k('tun_chr_read_iter'), ...EGRESS]),
    sample(99, [k('__sys_sendmmsg'), ...EGRESS]),
  ].join('\n');
  const r = splitSamples(text, [10, 20]);
  assert.equal(r.all, 5);
  assert.equal(r.per.get(10)!.total, 3);
  assert.equal(r.per.get(10)!.byKey.get('egress\tsendmmsg'), 2);
  assert.equal(r.per.get(10)!.byKey.get('ingress\trecvmmsg'), 1);
  assert.equal(r.per.get(20)!.byKey.get('egress\ttun read'), 1);
  assert.equal(r.per.has(99), false);
  // 0.5 ms/Gbit per sample: pid 10's egress is 2 samples = 1.00 ms/Gbit, 66.7 % of the process.
  const out = formatSplit(r, new Map([[10, 'A']]), 0.5);
  assert.match(out, /A 10:\s+3\s+60\.0 %\s+1\.50 ms\/Gbit/);
  assert.match(out, /egress\s+2\s+66\.7 %\s+1\.00 ms\/Gbit/);
});
