import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Redactor, type RedactionRules } from './redact.js';
import { localUserNames, ownHostNames } from './redact-sources.js';

const secret = 'a-test-secret-of-enough-bytes';
const rules: RedactionRules = {
  hostnames: true,
  addresses: true,
  usernames: true,
  hostNames: ['appliance7', 'nas-backup'],
  userNames: ['alice', 'svc.backup'],
};
const redactor = new Redactor(secret, rules);
const pseudonym = /^(host|ip|user)-[0-9a-f]{8}$/;
const timeLimit = { interruptAfterTimeLimit: 4000, numRuns: 300 };

describe('Redactor', () => {
  test('replaces addresses, DNS names, listed host names and user names with pseudonyms', () => {
    const text =
      'alice on appliance7 (db01.example.com) could not reach 192.0.2.10:8443 nor [2001:db8::1]:443 ' +
      'via fe80::1%eth0; NAS-Backup said: svc.backup denied';
    const out = redactor.redactText(text);
    for (const secretPart of [
      'alice',
      'appliance7',
      'db01.example.com',
      '192.0.2.10',
      '2001:db8::1',
      'fe80::1',
      'NAS-Backup',
      'svc.backup',
    ]) {
      assert.ok(!out.includes(secretPart), `${secretPart} survived: ${out}`);
    }
    assert.match(out, /^user-[0-9a-f]{8} on host-[0-9a-f]{8} \(host-[0-9a-f]{8}\) could not reach ip-/);
    assert.ok(out.includes(':8443 nor ['), out);
    assert.ok(out.endsWith(' said: user-' + redactor.pseudonym('user', 'svc.backup').slice(5) + ' denied'));
  });

  test('the same value always gets the same pseudonym, however an address or host is written', () => {
    assert.equal(redactor.pseudonym('ip', '2001:db8::1'), redactor.pseudonym('ip', '2001:0db8:0:0::0001'));
    assert.equal(
      redactor.pseudonym('host', 'DB01.Example.com.'),
      redactor.pseudonym('host', 'db01.example.com'),
    );
    assert.notEqual(redactor.pseudonym('host', 'a.example.com'), redactor.pseudonym('host', 'b.example.com'));
    assert.notEqual(
      redactor.pseudonym('user', 'alice'),
      new Redactor('another-secret-0123', rules).pseudonym('user', 'alice'),
    );
    assert.match(redactor.pseudonym('host', 'x.example.org'), pseudonym);
  });

  test('leaves alone what only looks a little like a name or an address', () => {
    for (const text of [
      'Fan 3 failed at 10:15:30 on 2026-03-02',
      'see agent.yaml and /var/log/messages.log',
      'std::string and Foo::bar threw',
      'MAC 00:1b:44:11:3a:b7, e.g. firmware v1.2.3',
      'PB-7KQ3AB major E1F3 SN-1234',
      'alice2 and malice are other words; so is appliance70',
    ]) {
      assert.equal(redactor.redactText(text), text);
    }
  });

  test('rules switched off leave their kind of value alone', () => {
    const addressesOnly = new Redactor(secret, { ...rules, hostnames: false, usernames: false });
    const out = addressesOnly.redactText('alice@db01.example.com at 10.0.0.1');
    assert.match(out, /^alice@db01\.example\.com at ip-[0-9a-f]{8}$/);
  });

  test('redactValue rewrites every string value, deeply, and keeps keys, numbers and structural keys', () => {
    const payload = {
      localId: 'PB-ABC123',
      severity: 'major',
      summary: 'disk on 10.1.2.3 failed',
      occurredAtMs: 5,
      system: { serial: 'SN-1', model: 'appliance7', firmware: { bmc: '1.2.3.4' } },
      parts: ['alice', 'fan'],
      'db01.example.com': true,
    };
    const out = redactor.redactValue(payload);
    assert.equal(out.localId, 'PB-ABC123');
    assert.equal(out.severity, 'major');
    assert.equal(out.occurredAtMs, 5);
    assert.match(out.summary, /^disk on ip-[0-9a-f]{8} failed$/);
    assert.match(out.system.model, pseudonym);
    assert.equal(out.system.serial, 'SN-1');
    assert.equal(out.system.firmware.bmc, '1.2.3.4', 'firmware levels are kept');
    assert.deepEqual(out.parts, [redactor.pseudonym('user', 'alice'), 'fan']);
    assert.equal(out['db01.example.com'], true);
    assert.equal(payload.summary, 'disk on 10.1.2.3 failed', 'the input is not changed');
  });

  test('a short secret is refused', () => {
    assert.throws(() => new Redactor('short', rules), RangeError);
  });
});

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) => parts.join('.'));
const ipv6 = fc.ipV6().filter((a) => /[0-9a-f]/i.test(a));
const separator = fc.constantFrom(' ', ', ', '\n', ' (', ') ', '=', ' [', '] ', '; ', ' to ', ': ');
const word = fc
  .stringMatching(/^[a-z]{1,10}$/)
  .filter((w) => !rules.userNames.includes(w) && !rules.hostNames.includes(w));

describe('Redactor properties', () => {
  test('no address put in survives', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.oneof(word, ipv4, ipv6), separator), { minLength: 1, maxLength: 12 }),
        (parts) => {
          const text = parts.map(([p, s]) => p + s).join('');
          const out = redactor.redactText(text);
          for (const [part] of parts) {
            if (part.includes('.') || part.includes(':'))
              assert.ok(!out.includes(part), `${part} survived in ${out}`);
          }
        },
      ),
      timeLimit,
    );
  });

  test('the mapping is stable: the same text gives the same output, and one address one pseudonym', () => {
    fc.assert(
      fc.property(fc.oneof(ipv4, ipv6), word, (address, w) => {
        const a = redactor.redactText(`${w} ${address} and ${address}`);
        assert.equal(a, redactor.redactText(`${w} ${address} and ${address}`));
        const [first, second] = a.split(' and ');
        assert.equal(first?.split(' ')[1], second);
        assert.match(second ?? '', /^ip-[0-9a-f]{8}$/);
      }),
      timeLimit,
    );
  });

  test('text with no names or addresses in it comes out unchanged', () => {
    const plain = fc.array(
      fc.oneof(word, fc.stringMatching(/^[0-9]{1,6}$/), fc.constantFrom(' ', ', ', '-', '!', '\n', ': ')),
      {
        maxLength: 30,
      },
    );
    fc.assert(
      fc.property(plain, (parts) => {
        const text = parts.join('');
        assert.equal(redactor.redactText(text), text);
      }),
      timeLimit,
    );
  });
});

describe('redaction sources', () => {
  test('own host names: the host name, its short form and its /etc/hosts aliases', () => {
    const hosts = '127.0.0.1 localhost\n127.0.1.1 app7.lab.example.com app7 # me\n10.0.0.2 other\n';
    assert.deepEqual(ownHostNames(hosts, 'app7').sort(), ['app7', 'app7.lab.example.com']);
  });

  test('user names: accounts from uid 1000 on, without nobody', () => {
    const passwd =
      'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n' +
      'nobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\nbob:x:1001:1001::/home/bob:/bin/sh\n';
    assert.deepEqual(localUserNames(passwd), ['alice', 'bob']);
  });
});
