/** Resume tickets are secrets too: the log scrubber removes them as it removes tokens. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, scrubSecrets } from '../../src/ops/logger.ts';

const TICKET = 'r1.ABCDEFGHIJKLMNOPQRSTUV';

describe('ticket redaction', () => {
  it.each([
    [`ticket ${TICKET} presented`, 'ticket [redacted] presented'],
    [`offered cardlend.ticket.${TICKET}, x`, 'offered [redacted], x'],
    [`{"type":"resume","ticket":"${TICKET}"}`, '{"type":"resume","ticket":"[redacted]"}'],
  ])('scrubs %s', (text, expected) => {
    expect(scrubSecrets(text)).toBe(expected);
  });

  it.each([
    'r1.short',
    `xr1.ABCDEFGHIJKLMNOPQRSTUV`,
    `r1.ABCDEFGHIJKLMNOPQRSTUVW`,
    'protocol cardlend.vscard.v1',
  ])('leaves %s alone', (text) => {
    expect(scrubSecrets(text)).toBe(text);
  });

  it('a log line never carries a ticket, as a field or in a message', async () => {
    let out = '';
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        out += chunk.toString();
        done();
      },
    });
    const logger = createLogger({ destination });
    logger.info({ ticket: TICKET, resume: { ticket: TICKET } }, `resume with ${TICKET}`);
    await new Promise((r) => setImmediate(r));
    expect(out).toContain('[redacted]');
    expect(out).not.toContain(TICKET.slice(3));
  });
});
