/**
 * `cardlend serve` from a public page in Debian's Chromium (issue 13): the page is made
 * "public" (--ip-address-space-overrides), so its WebSocket to the helper on 127.0.0.1 needs
 * the Local Network Access permission (`loopback-network`), granted or denied over DevTools.
 * The helper runs in this process against a real pcscd + vpcd with the PIV demo card.
 * Denied → the socket is blocked and the page can tell (permission state); granted but not
 * approved → "not approved" only, no reader name; the approval flow (same code on both
 * sides) → the readers and an APDU to the PIV card.
 */
import type { Page } from '@playwright/test';
import type { RelayHandle } from './fixtures.ts';
import { createPivDemoCard } from '@cardlend/card-sim';
import { waitForCard } from '@cardlend/pcsc/testing';
import { expect, test } from './fixtures.ts';
import { publicPage, setLoopbackPermission, useHelperRig } from './helper-e2e.ts';

const rig = useHelperRig({ withPivCard: false });

/** In the page: opens the helper's socket, sends `requests` one by one, returns all it got. */
function talkToHelper(
  page: Page,
  url: string,
  requests: object[],
): Promise<{ opened: boolean; close: number | null; messages: string[] }> {
  return page.evaluate(
    ({ url, requests }) =>
      new Promise((resolve) => {
        const messages: string[] = [];
        let opened = false;
        let next = 0;
        const ws = new WebSocket(url, ['cardlend-helper.v1']);
        const finish = (close: number | null): void => resolve({ opened, close, messages });
        const sendNext = (): void => {
          const r = requests[next++];
          if (r === undefined) {
            ws.close();
            return;
          }
          ws.send(JSON.stringify({ ...r, id: next }));
        };
        ws.onopen = () => (opened = true);
        ws.onmessage = (e) => {
          const text = String(e.data);
          messages.push(text);
          const m = JSON.parse(text) as { type: string };
          if (m.type === 'hello' || m.type === 'ok' || m.type === 'error') sendNext();
        };
        ws.onclose = (e) => finish(opened ? e.code : e.code);
        setTimeout(() => finish(null), 20_000);
      }),
    { url, requests },
  );
}

/**
 * Runs `use` on a relay's page (no VM behind it) opened in a browser that sees the page as
 * public, with its loopback permission set to `permission`; the browser is closed after.
 */
async function onPublicPage(
  launchRelay: (targetPort: number) => Promise<RelayHandle>,
  permission: 'granted' | 'denied',
  use: (page: Page, origin: string) => Promise<void>,
): Promise<void> {
  const relay = await launchRelay(1);
  const origin = `http://127.0.0.1:${relay.port}`;
  const { browser, page } = await publicPage(relay.port, relay.url);
  try {
    await setLoopbackPermission(browser, origin, permission);
    await use(page, origin);
  } finally {
    await browser.close();
  }
}

test.describe('the helper from a public page (Local Network Access)', () => {
  test('denied: the socket is blocked and the page can tell why', async ({ launchRelay }) => {
    await onPublicPage(launchRelay, 'denied', async (page) => {
      const got = await talkToHelper(page, rig.helper.url, [{ type: 'list' }]);
      expect(got.opened).toBe(false);
      expect(got.messages).toEqual([]);
      const state = await page.evaluate(async () => {
        try {
          return (await navigator.permissions.query({ name: 'loopback-network' as PermissionName }))
            .state;
        } catch (e) {
          return `query failed: ${String(e)}`;
        }
      });
      expect(state).toBe('denied');
      expect(rig.helper.connectionCount()).toBe(0);
    });
  });

  test('granted, not approved: "not approved" only, no reader name', async ({ launchRelay }) => {
    await onPublicPage(launchRelay, 'granted', async (page) => {
      const got = await talkToHelper(page, rig.helper.url, [
        { type: 'list' },
        { type: 'connect', reader: 'Virtual PCD 00 00' },
      ]);
      expect(got.opened).toBe(true);
      expect(JSON.parse(got.messages[0] ?? '{}')).toMatchObject({ type: 'hello', approved: false });
      expect(got.messages.slice(1).map((t) => JSON.parse(t) as { code: string })).toMatchObject([
        { code: 'HELPER_ORIGIN_NOT_APPROVED' },
        { code: 'HELPER_ORIGIN_NOT_APPROVED' },
      ]);
      const all = got.messages.join('\n');
      expect(all).not.toContain('Virtual PCD');
      expect(all).not.toContain('Virtual PCD 00 00'.toLowerCase());
    });
  });

  test('approval flow, then the PIV card through pcscd', async ({ launchRelay }) => {
    await onPublicPage(launchRelay, 'granted', async (page, origin) => {
      rig.terminal.answer = 'y';
      const reader = 'Virtual PCD 00 00';
      await rig.pcscd.insertCard(await createPivDemoCard());
      await waitForCard(reader, 'present');
      const paired = await talkToHelper(page, rig.helper.url, [{ type: 'pair' }]);
      const pairing = paired.messages
        .map((t) => JSON.parse(t) as { type: string; code: string })
        .find((m) => m.type === 'pairing');
      expect(pairing?.code).toMatch(/^[0-9]{6}$/);
      expect(rig.terminal.questions).toHaveLength(1);
      expect(rig.terminal.questions[0]).toContain(origin);
      expect(rig.terminal.questions[0]).toContain(
        `${pairing?.code.slice(0, 3)} ${pairing?.code.slice(3)}`,
      );
      // the helper's PC/SC context sees the card shortly after it opens
      await expect
        .poll(
          async () =>
            (await talkToHelper(page, rig.helper.url, [{ type: 'list' }])).messages.at(-1),
          {
            timeout: 15_000,
          },
        )
        .toContain('"present"');
      const got = await talkToHelper(page, rig.helper.url, [
        { type: 'list' },
        { type: 'connect', reader },
        { type: 'power-on', reader },
        // SELECT the PIV application
        { type: 'transmit', reader, apdu: '00a4040009a0000003080000100000' },
        { type: 'disconnect', reader },
      ]);
      const messages = got.messages.map((t) => JSON.parse(t) as Record<string, unknown>);
      expect(messages.filter((m) => m['type'] === 'error')).toEqual([]);
      const oks = messages.filter((m) => m['type'] === 'ok').map((m) => m['result']);
      expect(oks).toHaveLength(5);
      expect(oks[0]).toMatchObject({
        readers: expect.arrayContaining([
          expect.objectContaining({ name: reader, card: 'present' }),
        ]),
      });
      expect(String((oks[3] as { answer: string }).answer)).toMatch(/9000$/);
      // remembered: the next connection is approved without a question
      const again = await talkToHelper(page, rig.helper.url, []);
      expect(JSON.parse(again.messages[0] ?? '{}')).toMatchObject({ approved: true });
      expect(rig.terminal.questions).toHaveLength(1);
    });
  });
});
