/**
 * `@cardlend/bridge/conformance`: the shared conformance suite for reader implementations
 * (reader.ts). A reader package's test file calls
 * `runReaderConformance('my reader', createHarness)` at its top level; vitest must be a
 * (dev) dependency of that package. harness.ts documents what `createHarness` provides;
 * memory-reader.ts is the reference implementation, also a stand-in reader for other tests.
 */
export { ANSWER_TIMEOUT_MS, runReaderConformance } from './suite.ts';
export type {
  HeldAnswer,
  ReaderHarness,
  ReaderHarnessFactory,
  ReaderHarnessOptions,
} from './harness.ts';
export { conformanceCardAnswer, echoCommand, pattern, statusCommand } from './card.ts';
export {
  MEMORY_ATR,
  MemoryReader,
  MemoryReaderError,
  MemorySlot,
  memoryReaderHarness,
  memorySlotControls,
} from './memory-reader.ts';
export type { MemorySlotOptions } from './memory-reader.ts';
