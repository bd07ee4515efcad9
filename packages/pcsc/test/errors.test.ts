/**
 * The error vocabulary: pcsc-mini's codes → PC/SC names → CCID-level codes the bridge maps.
 */
import { describe, expect, it } from 'vitest';
import { bridgeErrorFromReader, CCID_TO_BRIDGE } from '@cardlend/bridge';
import { fromMiniError, isPcscError, PCSC_CODES, PCSC_TO_CCID, PcscError } from '../src/index.ts';

describe('PcscError', () => {
  it.each([
    ['NoService', 'SCARD_E_NO_SERVICE', 'CCID_TRANSFER_FAILED', 'BRIDGE_READER_ERROR'],
    ['RemovedCard', 'SCARD_W_REMOVED_CARD', 'CCID_CARD_ABSENT', 'BRIDGE_CARD_ABSENT'],
    ['NoSmartCard', 'SCARD_E_NO_SMARTCARD', 'CCID_CARD_ABSENT', 'BRIDGE_CARD_ABSENT'],
    ['ResetCard', 'SCARD_W_RESET_CARD', 'CCID_NOT_POWERED', 'BRIDGE_CARD_RESET'],
    ['SharingViolation', 'SCARD_E_SHARING_VIOLATION', 'CCID_DEVICE_BUSY', 'BRIDGE_READER_BUSY'],
    ['UnknownReader', 'SCARD_E_UNKNOWN_READER', 'CCID_READER_GONE', 'BRIDGE_READER_GONE'],
    ['ReaderUnavailable', 'SCARD_E_READER_UNAVAILABLE', 'CCID_READER_GONE', 'BRIDGE_READER_GONE'],
    ['Timeout', 'SCARD_E_TIMEOUT', 'CCID_TIMEOUT', 'BRIDGE_READER_TIMEOUT'],
    ['UnresponsiveCard', 'SCARD_W_UNRESPONSIVE_CARD', 'CCID_CARD_MUTE', 'BRIDGE_CARD_MUTE'],
    ['CommError', 'SCARD_F_COMM_ERROR', 'CCID_TRANSFER_FAILED', 'BRIDGE_READER_ERROR'],
    ['SomethingNew', 'SCARD_F_UNKNOWN_ERROR', 'CCID_TRANSFER_FAILED', 'BRIDGE_READER_ERROR'],
  ])('pcsc-mini %s → %s → %s → %s', (mini, pcsc, ccid, bridge) => {
    const raw = Object.assign(new Error('[ Client.TaskConnect ] Async task error'), { code: mini });
    const e = fromMiniError(raw, 'SCardConnect', 'Reader 0');
    expect(isPcscError(e)).toBe(true);
    expect([e.sourceCode, e.code, e.bindingCode, e.reader, e.cause]).toEqual([
      pcsc,
      ccid,
      mini,
      'Reader 0',
      raw,
    ]);
    const b = bridgeErrorFromReader(e);
    expect(b.code).toBe(bridge);
    expect(b.source).toEqual({ kind: 'pcsc', code: pcsc });
  });

  it('maps only to codes the bridge knows, from known PC/SC names', () => {
    for (const [pcsc, ccid] of Object.entries(PCSC_TO_CCID)) {
      expect(PCSC_CODES).toContain(pcsc);
      expect(Object.hasOwn(CCID_TO_BRIDGE, ccid)).toBe(true);
    }
    expect(new PcscError('SCARD_E_NO_SERVICE', 'x').message).toBe('x (SCARD_E_NO_SERVICE)');
  });
});
