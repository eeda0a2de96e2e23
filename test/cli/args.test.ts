/**
 * src/cli/args.ts: the commands' flag parser — value forms, booleans, repeats, aliases,
 * positionals, and the usage errors with each command's own messages.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgv } from '../../src/cli/args';
import { UsageError } from '../../src/errors';

const usageError = (message: string) => (err: unknown) => {
  assert.ok(err instanceof UsageError, `expected UsageError, got ${String(err)}`);
  assert.equal(err.message, message);
  return true;
};

test('--flag value and --flag=value; the value is the next argument whatever it looks like', () => {
  const a = parseArgv(['--dev', 'w0', '--local=192.0.2.1', '--mtu', '--debug', '--addr=a=b', '--x='], {
    bool: ['--debug'],
    value: ['--dev', '--local', '--mtu', '--addr', '--x'],
  });
  assert.equal(a.get('--dev'), 'w0');
  assert.equal(a.get('--local'), '192.0.2.1');
  assert.equal(a.get('--mtu'), '--debug');
  assert.equal(a.has('--debug'), false);
  assert.equal(a.get('--addr'), 'a=b');
  assert.equal(a.get('--x'), '');
  assert.equal(a.has('--x'), true);
  assert.deepEqual(a.positional, []);
});

test('booleans are set by name alone; absent flags read as undefined / empty', () => {
  const a = parseArgv(['--json'], { bool: ['--json', '--quick'], value: ['--out'] });
  assert.equal(a.has('--json'), true);
  assert.equal(a.has('--quick'), false);
  assert.equal(a.get('--out'), undefined);
  assert.deepEqual(a.all('--out'), []);
  assert.throws(
    () => parseArgv(['--json=false'], { bool: ['--json'] }),
    usageError('unknown flag: --json=false'),
  );
});

test('a value flag given again replaces the value; repeat flags collect every value in order', () => {
  const a = parseArgv(['--port', '1', '--peer', 'a', '--port=2', '--peer=b', '--peer', 'c'], {
    value: ['--port'],
    repeat: ['--peer'],
  });
  assert.equal(a.get('--port'), '2');
  assert.deepEqual(a.all('--port'), ['1', '2']);
  assert.deepEqual(a.all('--peer'), ['a', 'b', 'c']);
  assert.equal(a.get('--peer'), 'c');
});

test('once: a non-repeat flag (value or boolean) given twice is a usage error', () => {
  const spec = { bool: ['--debug'], value: ['--dev'], repeat: ['--peer'], once: true } as const;
  assert.deepEqual(parseArgv(['--peer', 'a', '--peer', 'b'], spec).all('--peer'), ['a', 'b']);
  assert.throws(() => parseArgv(['--dev', 'a', '--dev=b'], spec), usageError('--dev given twice'));
  assert.throws(() => parseArgv(['--debug', '--debug'], spec), usageError('--debug given twice'));
});

test('aliases land on the declared flag; written() gives the spelling used for messages', () => {
  const spec = {
    value: ['--count', '--interface'],
    alias: { '-c': '--count', '-i': '--interface' },
  } as const;
  const a = parseArgv(['-c', '4', '--interface=eth0'], spec);
  assert.equal(a.get('--count'), '4');
  assert.equal(a.written('--count'), '-c');
  assert.equal(a.get('--interface'), 'eth0');
  assert.equal(a.written('--interface'), '--interface');
  assert.equal(parseArgv([], spec).written('--count'), '--count');
  // Only `--` flags split at `=`: `-c=4` is not -c.
  assert.throws(() => parseArgv(['-c=4'], spec), usageError('unknown flag: -c=4'));
});

test('positionals: collected in order when allowed, else reported as unknown', () => {
  const a = parseArgv(['10.0.0.1', '--json', 'extra'], { bool: ['--json'], positional: true });
  assert.deepEqual(a.positional, ['10.0.0.1', 'extra']);
  assert.throws(() => parseArgv(['stray'], { bool: ['--json'] }), usageError('unknown flag: stray'));
  // With the default prefix `-x` and `-` are flags (unknown here) ...
  assert.throws(() => parseArgv(['-'], { positional: true }), usageError('unknown flag: -'));
  // ... with flagPrefix '--' they are positionals, as HEX bytes or file names may be.
  const hex = parseArgv(['-', '-x', '45', '--link', 'ip'], {
    value: ['--link'],
    positional: true,
    flagPrefix: '--',
  });
  assert.deepEqual(hex.positional, ['-', '-x', '45']);
  assert.equal(hex.get('--link'), 'ip');
});

test('missing values and nonEmpty: default and command-specific messages', () => {
  assert.throws(() => parseArgv(['--peer'], { repeat: ['--peer'] }), usageError('--peer needs a value'));
  const spec = {
    value: ['--write', '--filter'],
    alias: { '-w': '--write' },
    nonEmpty: ['--write'],
    missing: (written: string, flag: string) => `${written} (${flag}) needs a file`,
  } as const;
  assert.throws(() => parseArgv(['-w'], spec), usageError('-w (--write) needs a file'));
  assert.throws(() => parseArgv(['--write='], spec), usageError('--write (--write) needs a file'));
  assert.throws(() => parseArgv(['-w', ''], spec), usageError('-w (--write) needs a file'));
  assert.equal(parseArgv(['--filter', ''], spec).get('--filter'), '');
});

test('unknown flags: the command formats the message from the argument or the flag name', () => {
  assert.throws(() => parseArgv(['--bogus=1'], {}), usageError('unknown flag: --bogus=1'));
  assert.throws(
    () => parseArgv(['--bogus=1'], { unknown: (arg) => `unknown flag or argument '${arg}'` }),
    usageError("unknown flag or argument '--bogus=1'"),
  );
  assert.throws(
    () => parseArgv(['--bogus=1'], { unknown: (_arg, flag) => `unknown flag ${flag}` }),
    usageError('unknown flag --bogus'),
  );
  // An unknown flag is reported as unknown even at the end of argv (not as missing a value).
  assert.throws(() => parseArgv(['--bogus'], { value: ['--x'] }), usageError('unknown flag: --bogus'));
});

test('flag names are typed: only declared flags can be read', () => {
  const a = parseArgv(['--dev', 'w0'], { value: ['--dev'], bool: ['--debug'] });
  // @ts-expect-error '--mtu' was not declared
  assert.equal(a.get('--mtu'), undefined);
  assert.equal(a.get('--dev'), 'w0');
});
