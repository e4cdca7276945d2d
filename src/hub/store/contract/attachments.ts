// The contract of uploaded error data: starting an upload (once, beside the station's share),
// the resume point, completion, and what retention and support remove.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AttachmentStart } from '../../../protocol/index.js';
import { dayMs as day, openProblem, t0, useStore, type OpenHubStore } from './fixtures.js';

let counter = 0;

function upload(extra: Partial<AttachmentStart> = {}): AttachmentStart {
  counter += 1;
  return {
    id: counter.toString(16).padStart(32, 'a'),
    problemLocalId: 'PB-AAAAAA',
    name: 'dump.tar',
    bytes: 300,
    sha256: 'b'.repeat(64),
    chunkBytes: 100,
    ...extra,
  };
}

export function describeAttachments(open: OpenHubStore): void {
  describe('attachments', () => {
    const store = useStore(open);
    const attachments = () => store().attachments;

    test('start links the upload to its problem, is idempotent, and refuses other fields or an unknown problem', async () => {
      const fields = upload();
      await assert.rejects(attachments().start('ST-A', fields, t0), {
        code: 'CALLHOME_ATTACHMENT_PROBLEM_UNKNOWN',
      });
      const number = await openProblem(store(), 'ST-A', 'PB-AAAAAA');
      const first = await attachments().start('ST-A', fields, t0);
      assert.equal(first.created, true);
      assert.equal(first.attachment.problemNumber, number);
      assert.deepEqual([first.attachment.state, first.attachment.receivedBytes], ['receiving', 0]);
      const again = await attachments().start('ST-A', fields, t0 + 1);
      assert.equal(again.created, false);
      await assert.rejects(attachments().start('ST-A', { ...fields, bytes: 301 }, t0), {
        code: 'CALLHOME_ATTACHMENT_CONFLICT',
      });
      // The same id from another station is a conflict too, never a way into someone else's upload.
      await openProblem(store(), 'ST-B', 'PB-AAAAAA');
      await assert.rejects(attachments().start('ST-B', fields, t0), {
        code: 'CALLHOME_ATTACHMENT_CONFLICT',
      });
      assert.deepEqual(
        (await attachments().listForProblem(number)).map((a) => a.id),
        [fields.id],
      );
    });

    test("a new upload is checked against the station's unfinished ones; what counts, and a refusal stores nothing", async () => {
      await openProblem(store(), 'ST-A', 'PB-AAAAAA');
      await openProblem(store(), 'ST-B', 'PB-AAAAAA');
      const seen: { uploads: number; bytes: number }[] = [];
      const admission = (countSinceMs: number, refuse = false) => ({
        countSinceMs,
        check: (pending: { uploads: number; bytes: number }) => {
          seen.push(pending);
          if (refuse) throw new Error('share used up');
        },
      });
      // Old and never sent a byte (or its bytes were dropped by retention): no longer counts.
      await attachments().start('ST-A', upload({ bytes: 7000 }), t0 - 5 * day);
      // Old, but holding received bytes: counts until retention drops them.
      const partial = (await attachments().start('ST-A', upload({ bytes: 300 }), t0 - 5 * day)).attachment;
      await attachments().advance(partial.id, 0, 100, t0 - 4 * day);
      // Recent, nothing received yet: counts.
      await attachments().start('ST-A', upload({ bytes: 20 }), t0 - day);
      // Complete: no longer pending.
      const done = (await attachments().start('ST-A', upload({ bytes: 100 }), t0 - day)).attachment;
      await attachments().advance(done.id, 0, 100, t0 - day);
      await attachments().markComplete(done.id, t0 - day);
      // Another station's upload is its own.
      await attachments().start('ST-B', upload({ bytes: 5000 }), t0);

      const fresh = upload({ bytes: 1 });
      const refused = attachments().start('ST-A', fresh, t0, admission(t0 - 3 * day, true));
      await assert.rejects(refused, /share used up/);
      assert.deepEqual(seen, [{ uploads: 2, bytes: 320 }]);
      assert.equal(await attachments().get(fresh.id), undefined, 'a refused upload leaves no row');
      const taken = await attachments().start('ST-A', fresh, t0, admission(t0 - 3 * day));
      assert.equal(taken.created, true);
      // A known upload resumes without a check, whatever the share says.
      seen.length = 0;
      const again = await attachments().start('ST-A', fresh, t0 + 1, admission(t0, true));
      assert.deepEqual([again.created, seen], [false, []]);
    });

    test('the resume point moves only from where it is; repeats count as transferred; complete and restart', async () => {
      await openProblem(store(), 'ST-A', 'PB-AAAAAA');
      const { id } = (await attachments().start('ST-A', upload(), t0)).attachment;
      const moved = await attachments().advance(id, 0, 100, t0 + 1);
      assert.deepEqual([moved.advanced, moved.attachment.receivedBytes], [true, 100]);
      // A second copy of the same chunk cannot move it again.
      const stale = await attachments().advance(id, 0, 100, t0 + 2);
      assert.deepEqual([stale.advanced, stale.attachment.receivedBytes], [false, 100]);
      await attachments().countRepeat(id, 100, t0 + 3);
      await attachments().advance(id, 100, 200, t0 + 4);
      await attachments().restart(id, t0 + 5);
      assert.equal((await attachments().get(id))?.receivedBytes, 0);
      for (const [from, to] of [
        [0, 100],
        [100, 200],
        [200, 300],
      ] as const)
        await attachments().advance(id, from, to, t0 + 6);
      const done = await attachments().markComplete(id, t0 + 7);
      assert.deepEqual([done?.state, done?.completedAtMs, done?.transferredBytes], ['complete', t0 + 7, 600]);
      // Once complete, chunks no longer move anything.
      assert.equal((await attachments().advance(id, 300, 400, t0 + 8)).advanced, false);
    });

    test('an unfinished upload is dropped back to byte 0 only while still idle since before the cutoff', async () => {
      await openProblem(store(), 'ST-A', 'PB-AAAAAA');
      const { attachment } = await attachments().start('ST-A', upload(), t0);
      await attachments().advance(attachment.id, 0, 100, t0 + 1);
      assert.deepEqual(
        (await attachments().listReceivingIdleSince(t0 + day)).map((a) => a.id),
        [attachment.id],
      );
      // A chunk arrived after the list was read: the upload is no longer idle, nothing is dropped.
      await attachments().advance(attachment.id, 100, 200, t0 + 2 * day);
      assert.equal(await attachments().discardUnfinished(attachment.id, t0 + day, t0 + 2 * day), false);
      assert.equal((await attachments().get(attachment.id))?.receivedBytes, 200);
      assert.equal(await attachments().discardUnfinished(attachment.id, t0 + 3 * day, t0 + 3 * day), true);
      const dropped = await attachments().get(attachment.id);
      assert.deepEqual(
        [dropped?.state, dropped?.receivedBytes, dropped?.transferredBytes, dropped?.updatedAtMs],
        ['receiving', 0, 200, t0 + 3 * day],
      );
      assert.deepEqual(await attachments().listReceivingIdleSince(t0 + 3 * day), []);
      // A complete upload is never dropped this way.
      for (const [from, to] of [
        [0, 100],
        [100, 200],
        [200, 300],
      ] as const)
        await attachments().advance(attachment.id, from, to, t0 + 3 * day);
      await attachments().markComplete(attachment.id, t0 + 3 * day);
      assert.equal(await attachments().discardUnfinished(attachment.id, t0 + 9 * day, t0 + 9 * day), false);
    });

    test('complete uploads verified before a cutoff are listed oldest first; a removed one keeps its record', async () => {
      const number = await openProblem(store(), 'ST-A', 'PB-AAAAAA');
      let started = t0;
      const complete = async (completedAtMs: number | null) => {
        started += 1;
        const { attachment } = await attachments().start('ST-A', upload(), started);
        if (completedAtMs !== null) await attachments().markComplete(attachment.id, completedAtMs);
        return attachment.id;
      };
      const later = await complete(t0 + 2 * day);
      const first = await complete(t0 + day);
      const recent = await complete(t0 + 5 * day);
      const receiving = await complete(null);
      assert.deepEqual(
        (await attachments().listCompleteBefore(t0 + 3 * day)).map((a) => a.id),
        [first, later],
      );
      assert.deepEqual(
        (await attachments().listCompleteBefore(t0 + 3 * day, 1)).map((a) => a.id),
        [first],
      );
      await attachments().markRemoved(first, 'purged', t0 + 4 * day);
      await attachments().markRemoved(recent, 'deleted', t0 + 4 * day);
      assert.deepEqual(
        (await attachments().listCompleteBefore(t0 + 9 * day)).map((a) => a.id),
        [later],
      );
      const purged = await attachments().get(first);
      assert.deepEqual([purged?.state, purged?.removedAtMs], ['purged', t0 + 4 * day]);
      assert.deepEqual(
        (await attachments().listForProblem(number)).map((a) => [a.id, a.state]),
        [
          [later, 'complete'],
          [first, 'purged'],
          [recent, 'deleted'],
          [receiving, 'receiving'],
        ],
      );
    });
  });
}
