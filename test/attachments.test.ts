// Extended error data end to end: a 200 MiB file attached to a problem reaches the hub with the same
// SHA-256; an agent killed (SIGKILL) in the middle of the upload resumes where the hub stopped
// counting, not from zero; the support engineer offloads and deletes the file.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Cluster, runCli, waitFor } from './harness/cluster.js';

const MiB = 1024 * 1024;
const chunkBytes = 8 * MiB;

interface AttachmentJson {
  id: string;
  name: string;
  bytes: number;
  sha256: string;
  ackedBytes: number;
  state: string;
}

interface HubAttachmentRow {
  received_bytes: number;
  transferred_bytes: number;
  state: string;
  sha256: string;
  problem_number: string;
  station_id: string;
}

async function writeRandomFile(path: string, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  const file = await open(path, 'w');
  for (let done = 0; done < bytes;) {
    const block = randomBytes(Math.min(16 * MiB, bytes - done));
    hash.update(block);
    await file.write(block);
    done += block.byteLength;
  }
  await file.close();
  return hash.digest('hex');
}

const sha256OfFile = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('extended error data', () => {
  let cluster: Cluster;

  const attachment = async (id: string) =>
    (await cluster.admin('GET', `/v1/attachments/${id}`)) as AttachmentJson;
  const hubRow = (db: Database.Database, id: string) =>
    db.prepare('select * from attachments where id = ?').get(id) as HubAttachmentRow | undefined;

  before(async () => {
    cluster = await Cluster.start({ remote: false });
  });

  after(async () => {
    await cluster?.close();
  });

  test('a 200 MiB attachment survives SIGKILL of the agent mid-upload and resumes from where it stopped', async () => {
    const file = join(cluster.root, 'dump.bin');
    const size = 200 * MiB;
    const sha256 = await writeRandomFile(file, size);

    // Held by maintenance mode first, so the test decides when the upload starts.
    await cluster.cli(['agent', 'callhome', 'pause', '--for', '1h', '--data', cluster.agentDir]);
    const opened = await cluster.cli([
      'agent',
      'problem',
      'open',
      '--summary',
      'Controller crashed',
      '--severity',
      'critical',
      '--attach',
      file,
      '--no-follow',
      '--data',
      cluster.agentDir,
    ]);
    const localId = /Problem (PB-[0-9A-Z]{6})/.exec(opened.stdout)?.[1];
    const id = /staged as ([0-9a-f]{32})/.exec(opened.stdout)?.[1];
    assert.ok(localId && id, opened.stdout);
    const staged = await attachment(id);
    assert.deepEqual([staged.bytes, staged.sha256, staged.state], [size, sha256, 'staged']);
    assert.ok(existsSync(join(cluster.agentDir, 'attachments', `${id}.data`)));

    const db = new Database(join(cluster.hubDir, 'hub.db'), { readonly: true });
    try {
      assert.equal(hubRow(db, id), undefined, 'nothing is sent while call home is paused');
      const resumedAt = Date.now();
      await cluster.cli(['agent', 'callhome', 'resume', '--data', cluster.agentDir]);
      // Freeze the agent as soon as the hub has synced a chunk: the upload is then surely unfinished.
      await waitFor(
        'the first chunk at the hub',
        () => ((hubRow(db, id)?.received_bytes ?? 0) > 0 ? true : undefined),
        30_000,
        2,
      );
      cluster.agent?.child.kill('SIGSTOP');
      const atKill = hubRow(db, id);
      assert.ok(atKill && atKill.received_bytes > 0 && atKill.received_bytes < size, JSON.stringify(atKill));
      assert.equal(atKill.state, 'receiving');
      await cluster.agent?.stop('SIGKILL');
      cluster.agent = undefined;

      const restartedAt = Date.now();
      await cluster.startAgent();
      const done = await waitFor(
        'the upload to finish',
        async () => {
          const a = await attachment(id);
          return a.state === 'uploaded' || a.state === 'failed' ? a : undefined;
        },
        60_000,
        100,
      );
      assert.equal(done.state, 'uploaded');

      // Resumed, not restarted: after the restart no chunk at or below the last one the hub had
      // synced went out again, and the hub received less than the file plus two chunks in all.
      const { transmissions } = (await cluster.admin('GET', `/v1/sent?report=${id}`)) as {
        transmissions: { kind: string; atMs: number; status: number; answer: string }[];
      };
      const afterRestart = transmissions.filter((t) => t.atMs >= restartedAt);
      const chunkIndexes = afterRestart
        .filter((t) => t.kind === 'attachment.chunk' && t.status === 200)
        .map((t) => (JSON.parse(t.answer) as { index: number }).index);
      assert.ok(chunkIndexes.length > 0, 'chunks were sent after the restart');
      assert.ok(
        Math.min(...chunkIndexes) >= atKill.received_bytes / chunkBytes,
        `chunks after restart: ${chunkIndexes.join(',')}; the hub had ${atKill.received_bytes} bytes`,
      );
      const start = afterRestart.find((t) => t.kind === 'attachment.start');
      assert.ok(start && (JSON.parse(start.answer) as { receivedBytes: number }).receivedBytes > 0);
      assert.ok(transmissions.some((t) => t.kind === 'attachment.complete' && t.status === 200));
      const atHub = hubRow(db, id);
      assert.ok(atHub);
      assert.equal(atHub.state, 'complete');
      assert.ok(
        atHub.transferred_bytes < size + 2 * chunkBytes,
        `the hub received ${atHub.transferred_bytes} bytes`,
      );
      assert.ok(resumedAt < restartedAt);

      // The hub's copy, its ticket and the agent's record agree with the file.
      const hubFile = join(cluster.hubDir, 'attachments', atHub.station_id, id);
      assert.equal(sha256OfFile(hubFile), sha256);
      const shown = JSON.parse(
        (
          await cluster.cli([
            'hub',
            'problem',
            'show',
            atHub.problem_number,
            '--data',
            cluster.hubDir,
            '--json',
          ])
        ).stdout,
      ) as {
        problem: { localId: string };
        attachments: { id: string; sha256: string; state: string; bytes: number }[];
      };
      assert.equal(shown.problem.localId, localId);
      assert.deepEqual(
        shown.attachments.map((a) => [a.id, a.sha256, a.state, a.bytes]),
        [[id, sha256, 'complete', size]],
      );
      assert.ok(
        !existsSync(join(cluster.agentDir, 'attachments', `${id}.data`)),
        'the staged copy is removed',
      );
      const audit = JSON.parse(
        (await cluster.cli(['agent', 'audit', '--json', '--data', cluster.agentDir])).stdout,
      ) as {
        action: string;
        detail: Record<string, unknown>;
      }[];
      assert.ok(audit.some((e) => e.action === 'callhome.attachment-sent' && e.detail.sha256 === sha256));

      // The support engineer offloads the file, then deletes it.
      const out = join(cluster.root, 'offloaded.bin');
      const got = await cluster.cli(['hub', 'data', 'get', id, '--out', out, '--data', cluster.hubDir]);
      assert.match(got.stdout, /verified/);
      assert.equal(sha256OfFile(out), sha256);
      await cluster.cli(['hub', 'data', 'delete', id, '--data', cluster.hubDir]);
      assert.ok(!existsSync(hubFile));
      assert.equal(hubRow(db, id)?.state, 'deleted');
      const again = await runCli(['hub', 'data', 'get', id, '--out', out + '2', '--data', cluster.hubDir]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /CALLHOME_ATTACHMENT_GONE/);
      const hubAudit = db.prepare("select detail from hub_audit where action = 'data.deleted'").all() as {
        detail: string;
      }[];
      assert.ok(hubAudit.some((e) => (JSON.parse(e.detail) as { attachmentId: string }).attachmentId === id));
    } finally {
      db.close();
    }
  });

  test('problem open --attach follows the upload to the hub; problem update --attach adds more', async () => {
    const first = join(cluster.root, 'logs.tar');
    const firstSha = await writeRandomFile(first, 20 * MiB + 123);
    const opened = await cluster.cli([
      'agent',
      'problem',
      'open',
      '--summary',
      'Fan noise',
      '--severity',
      'minor',
      '--attach',
      first,
      '--data',
      cluster.agentDir,
    ]);
    assert.match(opened.stdout, new RegExp(`Uploaded logs.tar to the hub \\(SHA-256 ${firstSha}\\)`));
    assert.match(opened.stderr, /Uploading to the hub: .*\(100%\)/);
    const localId = /Problem (PB-[0-9A-Z]{6})/.exec(opened.stdout)?.[1];
    assert.ok(localId);

    const empty = join(cluster.root, 'empty.txt');
    writeFileSync(empty, '');
    const updated = await cluster.cli([
      'agent',
      'problem',
      'update',
      localId,
      '--note',
      'empty marker file',
      '--attach',
      empty,
      '--data',
      cluster.agentDir,
    ]);
    assert.match(updated.stdout, /Uploaded empty.txt to the hub/);

    const db = new Database(join(cluster.hubDir, 'hub.db'), { readonly: true });
    const rows = db
      .prepare(
        'select name, sha256, state, bytes from attachments where problem_local_id = ? order by created_at',
      )
      .all(localId) as { name: string; sha256: string; state: string; bytes: number }[];
    db.close();
    assert.deepEqual(
      rows.map((r) => [r.name, r.state, r.bytes, r.sha256]),
      [
        ['logs.tar', 'complete', 20 * MiB + 123, firstSha],
        ['empty.txt', 'complete', 0, createHash('sha256').digest('hex')],
      ],
    );
  });
});
