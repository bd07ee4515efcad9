/**
 * The reader conformance suite (src/conformance) run against the WebUSB `CcidReader` of
 * @cardlend/ccid over simulated readers: an extended-APDU reader with a T=1 card, a TPDU
 * reader with a T=0 card, and a reader without interrupt endpoint (card events by polling);
 * and against the in-memory reference reader (src/conformance/memory-reader.ts).
 */
import { createT0Card, createT1Card, readerProfiles } from '@cardlend/card-sim';
import { memoryReaderHarness, runReaderConformance } from '../src/conformance/index.ts';
import { ccidSimHarness } from './helpers/ccid-sim-harness.ts';

runReaderConformance(
  'CcidReader, extended-APDU reader, T=1 card',
  ccidSimHarness(readerProfiles.extendedApdu, (process) => createT1Card({ process, ifsc: 254 })),
);

runReaderConformance(
  'CcidReader, TPDU reader, T=0 card',
  ccidSimHarness(readerProfiles.tpduT0, (process) => createT0Card({ process })),
);

runReaderConformance(
  'CcidReader, reader without interrupt endpoint, T=1 card',
  ccidSimHarness(readerProfiles.noInterrupt, (process) => createT1Card({ process })),
);

runReaderConformance('in-memory reference reader', memoryReaderHarness);
